"""The embedding server: OpenAI-compatible /v1/embeddings plus similarity, rerank and search over HTTP.

`create_app(ServerConfig(...), encoder, index=..., reranker=...)` builds it; `embedlab serve` runs it with uvicorn.
The server is the `serve` extra: ServerConfig is plain Python, create_app is imported on first use and says
which pip command installs FastAPI when it is missing.
"""

from typing import Any

from embedlab.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    """`embedlab.server.create_app`, imported when first asked for (PEP 562), after checking for FastAPI."""
    if name == "create_app":
        from embedlab.extras import require

        require("fastapi", "the embedding server")
        from embedlab.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
