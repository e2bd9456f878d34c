"""Token counts of request texts, from the model's own tokenizer, and the model's limit on them.

They size batches (the worker's token budget), fill `usage` in answers and decide which texts are too long.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from embedlab.embedder import Embedder
from embedlab.server.errors import APIError


class TokenCounter:
    """Tokens per text as the encoder's tokenizer counts them (special tokens included), untruncated.

    Models without a tokenizer (word-vector models, test fakes) count whitespace-separated words.
    """

    def __init__(self, encoder: Embedder) -> None:
        self.tokenizer = encoder.tokenizer
        limit = encoder.max_seq_length
        self.max_tokens: int | None = limit if isinstance(limit, int) and limit > 0 else None
        # A Hugging Face tokenizer resets its Rust backend's settings on every call: one caller at a time.
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return self._count(texts)

    def count_now(self, texts: Sequence[str]) -> list[int] | None:
        """The counts if the tokenizer is free this instant, None while another thread uses it (never waits)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._count(texts)
        finally:
            self._lock.release()

    def _count(self, texts: Sequence[str]) -> list[int]:
        if self.tokenizer is None or not callable(self.tokenizer):
            return [len(text.split()) for text in texts]
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def kept(self, counts: Sequence[int]) -> list[int]:
        """The tokens the model reads of each text: at most its max tokens."""
        return [min(n, self.max_tokens) if self.max_tokens else n for n in counts]

    def check(self, counts: Sequence[int], truncate: bool, param: str = "input") -> None:
        """Refuse the first text over the model's limit when truncation is off (OpenAI's context-length error)."""
        if truncate or self.max_tokens is None:
            return
        too_long = next((i for i, n in enumerate(counts) if n > self.max_tokens), None)
        if too_long is not None:
            raise APIError(
                400,
                f"{param}[{too_long}] has {counts[too_long]} tokens but the model reads at most {self.max_tokens}; "
                "shorten it, or start the server without --no-truncate to have it cut",
                code="context_length_exceeded",
                param=f"{param}[{too_long}]",
            )
