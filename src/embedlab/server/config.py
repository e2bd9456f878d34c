"""ServerConfig: every limit and setting of the embedding server in one frozen dataclass.

The CLI fills it from options and tests build it directly, so one object says how a server behaves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from embedlab.errors import EmbedlabError

POSITIVE = (
    "max_body_bytes", "max_inputs", "max_batch_tokens", "encode_batch_size", "forward_tokens", "max_queue", "timeout",
    "retry_after", "max_search_k", "max_rerank_documents", "workers",
)


@dataclass(frozen=True)
class ServerConfig:
    """What the server is called, who may use it, and the bounds that keep one client from starving the rest.

    Sizes are bytes, tokens or texts; times are seconds.
    """

    model_name: str = "minilm"  # what answers name the model, and what requests may call it
    reranker_name: str | None = None  # the same for the cross-encoder (default: its own name)
    api_key: str | None = None
    truncate: bool = True  # texts past the model's max tokens are cut (True) or refused with 400 (False)
    max_body_bytes: int = 4 * 1024 * 1024
    max_inputs: int = 2048  # texts per request, OpenAI's own limit
    max_batch_tokens: int = 8192  # tokens the worker merges into one encode call
    encode_batch_size: int = 32  # texts per forward pass inside one encode call
    forward_tokens: int = 512  # padded tokens (texts x longest) per forward pass: long texts never pad short ones
    max_queue: int = 256  # requests waiting for the model; more are answered 429
    # Inference threads taking batches from the queue, each running one encode call at a time (with `--threads T`,
    # W workers use up to W x T cores): a worker per core beats one worker with one torch thread per core under load.
    workers: int = 1
    timeout: float = 30.0  # seconds a request may wait and run before it is answered 504
    retry_after: int = 1  # seconds a 429 asks the client to wait
    max_search_k: int = 100
    max_rerank_documents: int = 1000
    # The web pages at `/` and their /playground endpoints, training ones included: `embedlab serve` turns them on,
    # an app built as a library serves only the API unless asked.
    playground: bool = False

    def __post_init__(self) -> None:
        bad = [f"{name}={getattr(self, name)}" for name in POSITIVE if not getattr(self, name) > 0]
        if bad:
            raise EmbedlabError(f"server limits must be positive: {', '.join(bad)}")
        if self.api_key is not None and not self.api_key.strip():
            raise EmbedlabError("the API key is empty: give a non-empty key or none")

    def public(self) -> dict:
        """The settings /info shows: everything but the key itself."""
        settings = {k: v for k, v in asdict(self).items() if k != "api_key"}
        return {**settings, "api_key_required": self.api_key is not None}
