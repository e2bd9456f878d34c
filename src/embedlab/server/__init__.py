"""The embedding server: OpenAI-compatible /v1/embeddings plus similarity, rerank and search over HTTP.

`create_app(ServerConfig(...), encoder, index=..., reranker=...)` builds it; `embedlab serve` runs it with uvicorn.
"""

from embedlab.server.app import create_app
from embedlab.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
