"""Late chunking: a document read once by the transformer, each chunk's vector pooled from its own tokens' states.

Ordinary chunking encodes every chunk on its own, so a chunk that says "it" cannot know what "it" is. Here every
token has read the whole document (or, past the model's limit, the overlapping window that gives it the most
context on both sides), and a chunk's vector is its tokens' states pooled, then the model's Dense/LayerNorm head
and normalisation, so chunk vectors live in the space query vectors live in (Günther et al., 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer
from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.models.core import EmbeddingModel
from embedlab.models.st_format import SentenceTransformerLayout
from embedlab.models.token_batches import TokenRow, length_sorted_batches, pad_encodings

Span = tuple[int, int]
# Strategies that read one position of the text: a chunk has no [CLS] or last token of its own to read.
SINGLE_TOKEN_POOLINGS = ("cls", "last_token", "cls_attention")


@dataclass
class DocumentTokens:
    """One document's tokens in reading order: leading special tokens, prompt, the text, trailing special tokens.

    `offsets` are the text tokens' character offsets in the document (the prompt's length already taken off).
    """

    ids: list[int]
    types: list[int]
    lead: int
    prompt: int
    offsets: np.ndarray
    trail: int

    @classmethod
    def of(cls, encoding: Encoding, prompt_chars: int) -> DocumentTokens:
        special = encoding.special_tokens_mask
        lead = next((i for i, s in enumerate(special) if not s), len(special))
        trail = next((i for i, s in enumerate(reversed(special)) if not s), 0)
        middle = encoding.offsets[lead : len(special) - trail]
        # A token that starts inside the prompt belongs to it, even when it runs on into the text.
        prompt = sum(1 for start, _ in middle if start < prompt_chars)
        offsets = np.asarray(middle[prompt:], dtype=np.int64).reshape(-1, 2) - prompt_chars
        return cls(list(encoding.ids), list(encoding.type_ids), lead, prompt, offsets, trail)

    @property
    def text_tokens(self) -> int:
        return len(self.offsets)

    def windows(self, max_length: int) -> list[tuple[int, int]]:
        """Text-token ranges, each read with the special tokens and prompt around it; half a window apart."""
        room = max_length - self.lead - self.prompt - self.trail
        if room < 1:
            raise EmbedlabError(f"max_seq_length={max_length} leaves no room for text after the document prompt")
        n = self.text_tokens
        if n <= room:
            return [(0, n)]
        starts = list(range(0, n - room, max(1, room // 2))) + [n - room]
        return [(start, start + room) for start in starts]

    def window_input(self, window: tuple[int, int]) -> TokenRow:
        """The ids and token types of one window: specials and prompt kept, the text cut to the window."""
        head = self.lead + self.prompt
        tail = len(self.ids) - self.trail
        keep = list(range(head)) + list(range(head + window[0], head + window[1])) + list(range(tail, len(self.ids)))
        return TokenRow([self.ids[i] for i in keep], [self.types[i] for i in keep])


def best_windows(windows: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """For each of n text tokens, the window where it has the most context: the larger of its smaller margins,
    a window edge that is also the document's edge counting as unlimited context."""
    positions = np.arange(n)[None, :]
    starts = np.asarray([w[0] for w in windows])[:, None]
    stops = np.asarray([w[1] for w in windows])[:, None]
    left = np.where(starts > 0, positions - starts, n)
    right = np.where(stops < n, stops - 1 - positions, n)
    margin = np.minimum(left, right)
    margin[(positions < starts) | (positions >= stops)] = -1
    return margin.argmax(axis=0)


def check_chunk_request(documents: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[list[Span]]:
    """Spans as lists of (start, end) pairs, or a one-line error naming the bad document or span."""
    if isinstance(documents, str) or isinstance(spans, str):
        raise EmbedlabError("late chunking takes a list of documents and, per document, a list of (start, end) spans")
    if len(documents) != len(spans):
        raise EmbedlabError(f"{len(documents)} documents but {len(spans)} lists of spans")
    checked = []
    for number, (text, doc_spans) in enumerate(zip(documents, spans)):
        if not isinstance(text, str):
            raise EmbedlabError(f"document {number} is {type(text).__name__}, not a string")
        if not text.strip():
            raise EmbedlabError(f"document {number} is empty: late chunking needs text to read")
        pairs = []
        for span in doc_spans:
            if (
                not isinstance(span, (tuple, list)) or len(span) != 2
                or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in span)
            ):
                raise EmbedlabError(f"document {number}: a span must be a (start, end) pair of integers, got {span!r}")
            start, end = int(span[0]), int(span[1])
            if not 0 <= start < end <= len(text):
                raise EmbedlabError(
                    f"document {number}: span ({start}, {end}) is empty or outside its {len(text)} characters"
                )
            pairs.append((start, end))
        checked.append(pairs)
    return checked


class LateChunking:
    """Encoder's `encode_chunks` (the ChunkEmbedder protocol); kept here so encoder.py stays one concept."""

    model: EmbeddingModel
    tokenizer: Any
    layout: SentenceTransformerLayout
    max_seq_length: int
    _pad_id: int
    name: str
    dim: int
    document_prompt: str
    normalize: bool

    def encode_chunks(
        self,
        documents: Sequence[str],
        spans: Sequence[Sequence[Span]],
        batch_size: int = 32,
        normalize: bool | None = None,
    ) -> list[np.ndarray]:
        """Late-chunked vectors: for each document, one float32 row per (start, end) character span of its text.

        The document prompt goes in front of each document once; documents longer than max_seq_length are read
        in windows overlapping by half. A span that is the whole of a short document gets the very vector
        encode_documents gives that document.
        """
        checked = check_chunk_request(documents, spans)
        strategy = self.model.pooling.strategy
        if strategy in SINGLE_TOKEN_POOLINGS:
            raise EmbedlabError(
                f"late chunking pools each chunk's tokens, but {self.name or 'this model'} uses {strategy} pooling, "
                "which reads one token per text; use a mean-pooled model"
            )
        normalize = self.normalize if normalize is None else normalize
        prefix = self.document_prompt
        tokens = [DocumentTokens.of(e, len(prefix)) for e in self._whole_encodings([prefix + d for d in documents])]
        states = self._token_states(tokens, batch_size)
        vectors = []
        with torch.inference_mode():
            for number, (doc, doc_states, doc_spans) in enumerate(zip(tokens, states, checked)):
                rows = [self._chunk_rows(doc, span, number) for span in doc_spans]
                vectors.append(self._pool(doc_states, rows, normalize).numpy())
        return vectors

    def _whole_encodings(self, texts: list[str]) -> list[Encoding]:
        """Untruncated encodings (with special tokens): the windows are cut from them."""
        tokenizer = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
        tokenizer.no_padding()
        tokenizer.no_truncation()
        if self.layout.do_lower_case:
            texts = [t.lower() for t in texts]
        return tokenizer.encode_batch(texts)

    def _token_states(self, tokens: list[DocumentTokens], batch_size: int) -> list[Tensor]:
        """Every document's token states in reading order, each text token's from its best window."""
        plans = [doc.windows(self.max_seq_length) for doc in tokens]
        best = [best_windows(windows, doc.text_tokens) for doc, windows in zip(tokens, plans)]
        jobs = [(d, w) for d, windows in enumerate(plans) for w in range(len(windows))]
        inputs = [tokens[d].window_input(plans[d][w]) for d, w in jobs]
        states = [torch.zeros(len(doc.ids), self.model.pooling.dim) for doc in tokens]
        with torch.inference_mode():
            for batch in length_sorted_batches([len(row.ids) for row in inputs], batch_size):
                features = pad_encodings([inputs[j] for j in batch], self._pad_id, self.model.token_type_ids)
                hidden, _ = self.model.token_states({k: v.to(self.model.device) for k, v in features.items()})
                for row, j in enumerate(batch):
                    d, w = jobs[j]
                    self._keep(tokens[d], plans[d], best[d], w, hidden[row].cpu(), states[d])
        return states

    @staticmethod
    def _keep(doc: DocumentTokens, windows: list, best: np.ndarray, w: int, hidden: Tensor, out: Tensor) -> None:
        """Copy a window's states to the document's rows it is the best window for (specials: edge windows)."""
        head = doc.lead + doc.prompt
        start, stop = windows[w]
        if w == 0:
            out[:head] = hidden[:head]
        mine = np.nonzero(best[start:stop] == w)[0]
        out[head + start + mine] = hidden[head + mine]
        if w == len(windows) - 1 and doc.trail:
            out[len(doc.ids) - doc.trail :] = hidden[head + stop - start : head + stop - start + doc.trail]

    def _chunk_rows(self, doc: DocumentTokens, span: Span, number: int) -> range:
        """The document rows a span pools: its text tokens, plus the special tokens (and the prompt, when the
        pooling counts it) at whichever document edge it reaches, as encode pools a whole text."""
        starts, ends = doc.offsets[:, 0], doc.offsets[:, 1]
        inside = np.nonzero((starts < span[1]) & (ends > span[0]) & (ends > starts))[0]
        if not len(inside):
            raise EmbedlabError(f"document {number}: span {span} covers no token (only spaces?)")
        head = doc.lead + doc.prompt
        first, stop = head + int(inside[0]), head + int(inside[-1]) + 1
        if inside[0] == 0:
            first = 0 if self.model.pooling.include_prompt or not doc.prompt else head
        if inside[-1] == doc.text_tokens - 1:
            stop = len(doc.ids)
        return range(first, stop)

    def _pool(self, states: Tensor, rows: list[range], normalize: bool) -> Tensor:
        if not rows:
            return torch.zeros(0, self.dim)
        width = max(len(r) for r in rows)
        hidden = torch.zeros(len(rows), width, states.shape[1])
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            hidden[i, : len(r)] = states[r.start : r.stop]
            mask[i, : len(r)] = 1
        device = self.model.device
        pooled = self.model.pool(hidden.to(device), mask.to(device))
        if not torch.isfinite(pooled).all():
            raise EmbedlabError(f"{self.name} produced NaN or infinite embeddings: its weights may be corrupt")
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.float().cpu()
