"""The checks in front of the model: body size, API key, model name and inputs per request.

Each refusal is an OpenAI-shaped error with its own status and code, raised before any model work is queued.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedlab.server.errors import APIError, error_response

bearer = HTTPBearer(auto_error=False, description="The server's API key, when it was started with one.")


class BodyLimit:
    """ASGI middleware answering 413 to bodies over `max_bytes`, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self, size: str) -> str:
        return f"the request body is {size} bytes; this server takes at most {self.max_bytes:,}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = APIError(413, self._message(f"{int(declared):,}"), code="payload_too_large")
            await error_response(error)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # An HTTPException is what FastAPI lets through from body reading; the error handlers shape it.
                raise HTTPException(413, self._message(f"over {self.max_bytes:,}"))
            return message

        await self.app(scope, counted, send)


async def check_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """401 unless the request carries the server's key as `Authorization: Bearer KEY` (when a key is set)."""
    key = request.app.state.service.config.api_key
    if key is None:
        return
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise APIError(401, "no API key: send the header 'Authorization: Bearer KEY'", code="invalid_api_key",
                       headers=challenge)
    if not secrets.compare_digest(credentials.credentials.encode(), key.encode()):
        raise APIError(401, "incorrect API key", code="invalid_api_key", headers=challenge)


def check_model(requested: str | None, served: Iterable[str], what: str = "model") -> None:
    """404 `model_not_found`, as OpenAI answers, for a name this server does not serve (None means the served one)."""
    names = [name for name in dict.fromkeys(served) if name]
    if requested is not None and requested not in names:
        raise APIError(404, f"the {what} {requested!r} does not exist here; this server serves {names[0]!r}",
                       code="model_not_found", param="model")


def check_count(count: int, limit: int, param: str) -> None:
    """400 for more texts in one request than the server takes."""
    if count > limit:
        raise APIError(400, f"{param} has {count:,} items; this server takes at most {limit:,} per request (split it)",
                       code="too_many_inputs", param=param)


# The endpoint each kind of model answers on, for the error that sends a client to the right one.
ENDPOINTS = {"dense": "/v1/embeddings", "sparse": "/v1/sparse_embeddings", "multi_vector": "/v1/token_embeddings"}
KINDS = {"dense": "a dense", "sparse": "a sparse", "multi_vector": "a multi-vector"}


def check_representation(served: str, needed: str, endpoint: str) -> None:
    """400 when the served model's kind (dense, sparse, multi_vector) is not the one `endpoint` needs."""
    if served != needed:
        raise APIError(400, f"this server serves {KINDS[served]} model; {endpoint} needs {KINDS[needed]} model "
                       f"(use {ENDPOINTS[served]})", code="wrong_model_kind", param="model")
