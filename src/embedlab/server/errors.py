"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, for every failure the server answers.

OpenAI-compatible clients read that shape to raise their own exceptions, so no answer is ever a traceback or
FastAPI's default `{"detail": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedlab.errors import EmbedlabError
from embedlab.server.schemas import ErrorResponse

log = logging.getLogger("embedlab.server")
# OpenAI's error types by status; anything else in 4xx is a bad request, in 5xx the server's fault.
TYPES = {401: "authentication_error", 429: "rate_limit_error", 501: "invalid_request_error", 504: "timeout_error"}
# What the OpenAPI schema documents for every operation, instead of FastAPI's 422 `{"detail": ...}`, which this
# server never sends: clients (and schema-driven fuzzers) then expect the shape they really get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "Refused: invalid request (400), API key (401), unknown model "
            "(404), body too large (413), queue full (429, with Retry-After), endpoint not loaded (501)."},
    "5XX": {"model": ErrorResponse, "description": "Not answered: shutting down (503), timed out (504), a bug (500)."},
}


class APIError(Exception):
    """A failure answered with `status` and an OpenAI-shaped body; `param` names the offending field."""

    def __init__(
        self, status: int, message: str, code: str | None = None, param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = dict(headers or {})


def error_type(status: int) -> str:
    return TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


def error_response(err: APIError) -> JSONResponse:
    body = {"message": err.message, "type": error_type(err.status), "param": err.param, "code": err.code}
    return JSONResponse({"error": body}, status_code=err.status, headers=err.headers)


def field_path(location: Sequence[Any]) -> str | None:
    """A pydantic error location as a field path: ("body", "input", 2) -> "input[2]"; the body itself -> None."""
    path = ""
    for part in location[1:] if location and location[0] == "body" else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def describe(problem: Mapping[str, Any]) -> tuple[str | None, str]:
    """One pydantic problem as (field path, message); a body that is not JSON at all names no field."""
    if problem.get("type") == "json_invalid":
        return None, f"the body is not valid JSON ({problem.get('ctx', {}).get('error', 'decode error')})"
    return field_path(problem.get("loc", ())), str(problem.get("msg", "invalid")).removeprefix("Value error, ")


def validation_error(exc: RequestValidationError) -> APIError:
    """Request-schema failures as one 400 naming each bad field, as OpenAI answers them (not FastAPI's 422)."""
    described = [describe(problem) for problem in exc.errors()]
    message = "; ".join(f"{where}: {text}" if where else text for where, text in described)
    return APIError(
        400, message or "invalid request", code="invalid_request", param=described[0][0] if described else None
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception a request can raise to an OpenAI-shaped answer."""

    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code)
        return error_response(APIError(exc.status_code, str(exc.detail), code=code, headers=exc.headers))

    async def user_error(_: Request, exc: EmbedlabError) -> JSONResponse:
        # The library's own one-line messages for bad input (a filter on a missing field, a bad prompt name).
        return error_response(APIError(400, str(exc), code="invalid_request"))

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(EmbedlabError, user_error)


class CatchAll:
    """ASGI middleware answering a bug (an exception no handler took) with a 500 in OpenAI's shape.

    Starlette's own last resort answers, then re-raises, and uvicorn drops the connection: a client's next
    request on it would fail. Here the traceback goes to the log and the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if scope["type"] != "http" or started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            error = APIError(500, "internal server error (logged on the server)", code="internal_error")
            await error_response(error)(scope, receive, send)
