"""create_app: the FastAPI application of `embedlab serve`, built around already loaded models.

Loading stays outside (the CLI, a test, another host such as a playground), so one factory serves them all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedlab.embedder import MultiVectorEmbedder, SparseEmbedder
from embedlab.server.api import router, service
from embedlab.server.config import ServerConfig
from embedlab.server.errors import ERROR_RESPONSES, APIError, CatchAll, install_error_handlers
from embedlab.server.limits import BodyLimit, check_api_key
from embedlab.server.metrics import Metrics
from embedlab.server.representation_api import router as representation_router
from embedlab.server.service import Served, Service

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_app(
    config: ServerConfig, encoder: Served, index: Any = None, reranker: Any = None,
    sparse: SparseEmbedder | None = None, multi_vector: MultiVectorEmbedder | None = None,
) -> FastAPI:
    """The server for `encoder` (any Embedder, or a sparse or multi-vector model), optionally an Index and a
    reranker (a cross-encoder or a multi-vector model); the playground's pages and endpoints only with
    `config.playground`, where `sparse` and `multi_vector` are extra models its late-interaction page explains.

    The inference worker starts with the app and, at shutdown, finishes what was queued before it stops.
    """
    svc = Service(config, encoder, index, reranker)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            await run_in_threadpool(svc.stop)

    app = FastAPI(
        title="embedlab server",
        version=version("embedlab"),
        description="Sentence embeddings over HTTP: OpenAI-compatible /v1/embeddings, similarity, rerank, search.",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.state.lab_models = {"sparse": sparse, "multi_vector": multi_vector}
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(representation_router)
    app.include_router(_operations_router())
    if config.playground:
        from embedlab.server.playground import mount_playground

        mount_playground(app)  # the web pages at `/` and the endpoints they call
    # Added last = outermost: the metrics see every answer, the body limit's 413s and the 500s included.
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=svc.metrics)
    return app


def _operations_router() -> APIRouter:
    ops = APIRouter(responses=ERROR_RESPONSES)

    @ops.get("/health", summary="Liveness: 200 while the inference worker runs")
    async def health(request: Request) -> dict:
        svc = service(request)
        if not svc.alive:
            raise APIError(503, "the inference worker is not running", code="unavailable")
        return {"status": "ok", "model": svc.config.model_name, "queue_depth": svc.depth}

    @ops.get("/info", summary="The model, index, reranker and limits", dependencies=[Depends(check_api_key)])
    async def info(request: Request) -> dict:
        svc = service(request)
        details = svc.encoder.info() if hasattr(svc.encoder, "info") else {}
        index = svc.index.info() if svc.index is not None else None
        dense = svc.representation == "dense"
        return {
            "model": svc.config.model_name,
            "representation": svc.representation,
            # A sparse vector's width is its vocabulary.
            "dimensions": int(svc.encoder.vocab_size if svc.representation == "sparse" else svc.encoder.dim),
            "backend": details.get("backend"),
            "max_tokens": svc.counter.max_tokens,
            "prompts": dict(svc.encoder.prompts) if dense else {},
            "encoder": details,
            "index": None if index is None else {"store": index["store"], **index["counts"]},
            "reranker": svc.reranker_names[0] if svc.reranker is not None else None,
            "limits": svc.config.public(),
            "embedlab": version("embedlab"),
        }

    # Not response_class=PlainTextResponse: that would document the JSON error answers as text/plain too.
    @ops.get("/metrics", summary="Prometheus metrics", response_model=None, dependencies=[Depends(check_api_key)],
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics(request: Request) -> PlainTextResponse:
        return PlainTextResponse(service(request).metrics.render(), media_type=PROMETHEUS_TEXT)

    return ops


class RequestMetrics:
    """ASGI middleware counting every answer by endpoint and status (errors by their code too) and timing it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises past every handler
        error_body = bytearray()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            # The route's template, never the raw path: unknown URLs must not grow the label set without bound.
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.inc(endpoint, str(status))
            self.metrics.latency.observe(time.perf_counter() - start, endpoint)
            if status >= 400:
                self.metrics.errors.inc(str(status), _error_code(bytes(error_body)))


def _error_code(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
