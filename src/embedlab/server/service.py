"""Service: the loaded models and the one path from a request to them, through the inference worker.

Every endpoint embeds or calls the model through here, so queue limits, timeouts, token counts and metrics
apply to all of them the same way.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from starlette.concurrency import run_in_threadpool

from embedlab.embedder import Embedder, MultiVectorEmbedder, SparseEmbedder, representation
from embedlab.models.multi_vector_rerank import MaxSimReranker
from embedlab.server.config import ServerConfig
from embedlab.server.errors import APIError
from embedlab.server.limits import check_representation
from embedlab.server.metrics import Metrics
from embedlab.server.micro_batching import InferenceWorker, QueueFull, WorkerStopped
from embedlab.server.tokens import TokenCounter

# Tokenizing this many characters takes well under a millisecond: less than a hop to a thread-pool thread and back,
# so such requests are counted on the event loop; longer ones go to a thread so they never stall other clients.
INLINE_COUNT_CHARS = 8192


Served = Embedder | SparseEmbedder | MultiVectorEmbedder


@dataclass
class TokenRows:
    """A multi-vector model's answer for one text: its tokens and one vector per token (tokens x dim)."""

    tokens: list[str]
    vectors: np.ndarray


class Service:
    """The encoder (plus optional index and reranker), its worker, token counter and metrics.

    The encoder may be dense, sparse or multi-vector (`representation`): dense texts are merged per prompt, the
    others per side (query or document), each through the encoder's own methods.
    """

    def __init__(self, config: ServerConfig, encoder: Served, index: Any = None, reranker: Any = None) -> None:
        self.config = config
        self.encoder = encoder
        self.representation = representation(encoder)
        self.index = index
        # A ColBERT model reranks by MaxSim behind a cross-encoder's predict, so search and /v1/rerank take either.
        self.reranker = MaxSimReranker(reranker) if representation(reranker) == "multi_vector" else reranker
        self.counter = TokenCounter(encoder)
        self.metrics = Metrics()
        self.metrics.gauge("embedlab_queue_depth", "Requests waiting for the model.", lambda: self.depth)
        self.worker: InferenceWorker | None = None
        self.started = time.time()

    # ---- lifetime ------------------------------------------------------------------------------

    def start(self) -> None:
        """A fresh worker thread (the app's startup)."""
        # A sparse model's encode sets its shared Hugging Face tokenizer's truncation on every call, which two threads
        # must not do at once; dense and multi-vector models tokenize with private, never-changed copies.
        workers = self.config.workers if self.representation != "sparse" else 1
        self.worker = InferenceWorker(
            self._encode, self.config.max_queue, self.config.max_batch_tokens, on_batch=self._record_batch,
            workers=workers,
        )
        self.worker.start()

    def stop(self) -> None:
        """Finish queued work and end the worker (the app's shutdown, after in-flight requests are answered)."""
        if self.worker is not None:
            self.worker.stop(timeout=self.config.timeout)

    @property
    def alive(self) -> bool:
        return self.worker is not None and self.worker.alive

    @property
    def depth(self) -> int:
        return self.worker.depth if self.worker is not None else 0

    # ---- names ---------------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        return [self.config.model_name, self.encoder.name]

    @property
    def reranker_names(self) -> list[str]:
        own = str(getattr(self.reranker, "name", "") or "")
        return [self.config.reranker_name or own, own]

    # ---- the way to the model ------------------------------------------------------------------

    async def embed(self, texts: Sequence[str], prompt: str | None = None) -> tuple[np.ndarray, list[int]]:
        """The texts' vectors (n, d) in order, merged with other requests' texts, and the tokens each counted.

        `prompt` goes before each text (None: the model's default); only requests with one prompt are merged."""
        # Endpoints check first, naming themselves; this catches any other caller (a playground page).
        check_representation(self.representation, "dense", "this endpoint")
        return await self._embed(texts, prompt)

    async def embed_side(self, texts: Sequence[str], side: str) -> tuple[Any, list[int]]:
        """A sparse or multi-vector model's rows for the texts encoded as `side` ("query" or "document"), merged
        with other requests of that side: an (n, vocab) CSR matrix, or a TokenRows per text."""
        return await self._embed(texts, side)

    async def _embed(self, texts: Sequence[str], key: Hashable) -> tuple[Any, list[int]]:
        counts = await self._count(texts)
        self.counter.check(counts, self.config.truncate)
        kept = self.counter.kept(counts)
        vectors = await self._wait(lambda: self._worker.submit_texts(texts, kept, key))
        self.metrics.tokens.inc(amount=sum(kept))
        self.metrics.truncated.inc(amount=sum(n > k for n, k in zip(counts, kept)))
        return vectors, kept

    async def _count(self, texts: Sequence[str]) -> list[int]:
        """Token counts, on the event loop when the texts are short and the tokenizer is free, else on a thread."""
        if sum(map(len, texts)) <= INLINE_COUNT_CHARS and (counts := self.counter.count_now(texts)) is not None:
            return counts
        return await run_in_threadpool(self.counter, texts)

    async def call(self, call: Callable[[], Any]) -> Any:
        """Run a model call that cannot be merged (search, rerank) on the worker thread, under the same limits."""
        return await self._wait(lambda: self._worker.submit_call(call))

    @property
    def _worker(self) -> InferenceWorker:
        if self.worker is None:
            raise WorkerStopped("the server has not started")
        return self.worker

    async def _wait(self, submit: Callable[[], Future]) -> Any:
        try:
            future = submit()
        except QueueFull as err:
            raise APIError(429, f"the server is busy ({err}); retry after {self.config.retry_after}s",
                           code="queue_full", headers={"Retry-After": str(self.config.retry_after)}) from None
        except WorkerStopped as err:
            raise APIError(503, str(err), code="unavailable") from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.config.timeout)
        except asyncio.TimeoutError:
            # wait_for has cancelled the Future: if it was still queued, the worker drops it unrun.
            raise APIError(
                504,
                f"the request did not finish within {self.config.timeout:g}s (waiting included); "
                "send fewer or shorter texts, or retry when the server is less busy",
                code="timeout",
            ) from None

    def _encode(self, texts: list[str], key: Hashable) -> Any:
        with warnings.catch_warnings():
            # Truncation is the server's documented default and is counted in the metrics instead.
            warnings.filterwarnings("ignore", message=".*longer than max_seq_length.*")
            if self.representation != "dense":
                return self._encode_side(texts, str(key))
            options = {"prompt": key} if key is not None else {}
            vectors = self.encoder.encode(
                texts, batch_size=self.config.encode_batch_size, max_tokens=self.config.forward_tokens, **options
            )
        return np.asarray(vectors, dtype=np.float32)

    def _encode_side(self, texts: list[str], side: str) -> Any:
        """Rows the worker can slice per request: a CSR matrix (sparse) or a list of TokenRows (multi-vector),
        whose token names are made here, on the model's thread, beside the vectors."""
        model = self.encoder
        encode = model.encode_queries if side == "query" else model.encode_documents
        rows = encode(texts, batch_size=self.config.encode_batch_size)
        if self.representation == "sparse":
            return sparse.csr_matrix(rows)  # sliceable by row ranges whatever sparse type the model returns
        name = model.query_tokens if side == "query" else model.document_tokens
        return [TokenRows(name(text), np.asarray(vectors, dtype=np.float32)) for text, vectors in zip(texts, rows)]

    def _record_batch(self, requests: int, texts: int, tokens: int) -> None:
        self.metrics.batch_requests.observe(requests)
        self.metrics.batch_texts.observe(texts)
        self.metrics.batch_tokens.observe(tokens)
