"""Documents to index, and the token-aware chunks they are split into before encoding.

A chunk keeps its document's id and the character offsets it covers, so a search hit can always point back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.data.beir import doc_text, jsonl_rows, read_bytes, string_field
from embedlab.errors import EmbedlabError

Scalar = str | int | float | bool
# (start, end) character offsets of each token of a text.
TokenSpans = Callable[[str], list[tuple[int, int]]]
ID_FIELDS = ("_id", "id")
RESERVED_FIELDS = (*ID_FIELDS, "text", "title")


@dataclass(frozen=True)
class Document:
    """One corpus row: an id, its text, an optional title and flat metadata (for filters)."""

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A window of a document's text: `number` counts from 0 within the document; `start`/`end` are offsets."""

    doc_id: str
    number: int
    text: str
    start: int
    end: int
    title: str = ""
    metadata: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc_id}#{self.number}"

    def overlaps(self, other: Chunk) -> bool:
        """Whether the two windows share characters (neighbouring chunks do, by their overlap)."""
        return self.start < other.end and other.start < self.end

    def encoded_text(self) -> str:
        """What the encoder reads: the title and chunk joined as BEIR joins title and text."""
        return doc_text(self.title, self.text)


@dataclass(frozen=True)
class ChunkConfig:
    """Windows of at most `max_tokens` tokens, each starting `max_tokens - overlap` tokens after the last."""

    max_tokens: int = 200
    overlap: int = 32

    def __post_init__(self) -> None:
        if self.max_tokens < 1 or not 0 <= self.overlap < self.max_tokens:
            raise EmbedlabError(
                f"chunks need max_tokens >= 1 and 0 <= overlap < max_tokens, got {self.max_tokens}, {self.overlap}"
            )


def read_corpus(path: str | os.PathLike, field: str = "text") -> list[Document]:
    """Documents from a jsonl file (`_id` or `id`, the text under `field`, optional `title`, other scalar fields
    as metadata), a BEIR directory (its corpus.jsonl) or a .txt file (one document per line, ids "1", "2", ...)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "corpus.jsonl"
    if not path.is_file():
        raise EmbedlabError(f"no corpus file at {path}")
    if path.suffix == ".txt":
        return _read_lines(path)
    documents = []
    for doc_id, row, where in jsonl_rows(read_bytes(path), path, ID_FIELDS):
        metadata = {k: v for k, v in row.items() if k not in RESERVED_FIELDS and k != field}
        bad = next((k for k, v in metadata.items() if not isinstance(v, (str, int, float, bool))), None)
        if bad is not None:
            raise EmbedlabError(f"{where}: metadata field {bad!r} must be a string, number or boolean")
        text = string_field(row, field, where)
        documents.append(Document(doc_id, text, string_field(row, "title", where, default=""), metadata))
    if not documents:
        raise EmbedlabError(f"{path} holds no documents")
    return documents


def _read_lines(path: Path) -> list[Document]:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise EmbedlabError(f"{path} is not UTF-8 text: {err}") from None
    documents = [Document(str(n), line.removesuffix("\r")) for n, line in enumerate(lines, 1) if line.strip()]
    if not documents:
        raise EmbedlabError(f"{path} holds no documents")
    return documents


def token_spans(tokenizer: Any) -> TokenSpans:
    """Token offsets from a Hugging Face fast tokenizer, or whitespace-separated words when there is none."""
    if tokenizer is None:
        return lambda text: [match.span() for match in re.finditer(r"\S+", text)]
    # verbose=False: texts longer than the model's limit are only measured here, so its warning would mislead.
    return lambda text: [
        (start, end)
        for start, end in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
            "offset_mapping"
        ]
        if end > start
    ]


def chunk_document(document: Document, spans: TokenSpans, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """Split a document into overlapping windows of whole tokens; a short (or token-less) one stays whole."""
    offsets = spans(document.text)
    if len(offsets) <= config.max_tokens:
        return [Chunk(document.id, 0, document.text, 0, len(document.text), document.title, document.metadata)]
    chunks, step = [], config.max_tokens - config.overlap
    for number, first in enumerate(range(0, len(offsets), step)):
        last = min(first + config.max_tokens, len(offsets)) - 1
        start, end = offsets[first][0], offsets[last][1]
        chunks.append(
            Chunk(document.id, number, document.text[start:end], start, end, document.title, document.metadata)
        )
        if last == len(offsets) - 1:
            break
    return chunks


def late_chunk_spans(document: Document, chunks: list[Chunk]) -> tuple[str, list[tuple[int, int]]]:
    """What late chunking reads for a document's chunks: the title and text as one text, and each chunk's
    character span in it. The first chunk's span also covers the title (ordinary chunks each repeat it), so a
    one-chunk document gets the same vector either way."""
    head = document.title + " " if document.title else ""
    spans = [(len(head) + chunk.start, len(head) + chunk.end) for chunk in chunks]
    spans[0] = (0, spans[0][1])
    return head + document.text, spans
