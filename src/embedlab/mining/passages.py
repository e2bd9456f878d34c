"""Overlapping word windows over a document, for same-document negatives.

A small local splitter: passages only need to be contiguous, overlapping and aware of where they sit.
"""

from __future__ import annotations

from dataclasses import dataclass

from embedlab.errors import EmbedlabError


@dataclass(frozen=True)
class Passage:
    """Words [start, end) of a document, and their text."""

    start: int
    end: int
    text: str

    def overlaps(self, other: Passage) -> bool:
        return self.start < other.end and other.start < self.end


def split_passages(text: str, words: int = 64, overlap: int = 16) -> list[Passage]:
    """Windows of `words` words, each starting `words - overlap` after the last; the last one ends the text.

    A text of at most `words` words is one passage. Overlap keeps a sentence cut at a boundary whole in one.
    """
    if not 0 <= overlap < words:
        raise EmbedlabError(f"need 0 <= overlap < words, got overlap={overlap}, words={words}")
    tokens = text.split()
    if len(tokens) <= words:
        return [Passage(0, len(tokens), " ".join(tokens))] if tokens else []
    stride = words - overlap
    starts = list(range(0, len(tokens) - words, stride)) + [len(tokens) - words]
    return [Passage(s, s + words, " ".join(tokens[s : s + words])) for s in dict.fromkeys(starts)]
