"""BERT WordPiece token ids with a per-word memo: the same ids as the Rust tokenizer, several times faster.

A static model spends most of its encode time tokenizing; a word's pieces never change, so each distinct word
is split once and looked up after that. Exact only where it mirrors the tokenizer, so `for_tokenizer` returns
None for anything but BertNormalizer + BertPreTokenizer + WordPiece, and texts holding an added token
("[SEP]") go to the tokenizer itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import chain
from typing import Any

# BertNormalizer on ASCII: control characters go; tab, newline and return become spaces (the split treats
# them alike). ASCII punctuation is what BertPreTokenizer isolates; other ASCII runs are words.
ASCII_CONTROLS = {c: None for c in [*range(9), 11, 12, *range(14, 32), 127]}
ASCII_PUNCTUATION = re.escape(
    "".join(chr(c) for c in [*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)])
)
WORDS = re.compile(rf"[^\s{ASCII_PUNCTUATION}]+|[{ASCII_PUNCTUATION}]")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
MAX_CACHED_WORDS = 1_000_000


class _Unmirrored(Exception):
    """A character whose split the regex would get wrong: the text goes to the tokenizer."""


class _Pieces(dict):
    """Word -> its WordPiece ids, filled on first lookup, so a whole text is looked up in one C-level map()."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self._model = model

    def __missing__(self, word: str) -> list[int]:
        ids = self[word] = [token.id for token in self._model.tokenize(word)]
        return ids


class CachedWordPiece:
    """Token ids of texts, split into words the way BertPreTokenizer does, each word's pieces memoised.

    Characters outside ASCII are normalized one at a time by the tokenizer's own normalizer (BertNormalizer
    works character by character) and classified by its pre-tokenizer, once per distinct character.
    """

    def __init__(self, tokenizer: Any, lowercase: bool, added_tokens: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._lowercase = lowercase
        self._added = [token for token in added_tokens if token]
        self._pieces = _Pieces(tokenizer.model)
        self._characters: dict[str, str | None] = {}  # non-ASCII character -> its normalized, split-ready form

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> CachedWordPiece | None:
        """The memo for a BERT-style `tokenizers.Tokenizer`, or None where it would not give identical ids."""
        spec = json.loads(tokenizer.to_str())
        normalizer, pre, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec.get("model") or {}
        if (normalizer.get("type"), pre.get("type"), model.get("type")) != (
            "BertNormalizer",
            "BertPreTokenizer",
            "WordPiece",
        ):
            return None
        added = spec.get("added_tokens") or []
        if any(entry.get("normalized") for entry in added):
            return None  # matched after normalization, which a substring test on the raw text would miss
        return cls(tokenizer, bool(normalizer.get("lowercase", True)), [entry.get("content", "") for entry in added])

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids without special tokens, as `encode_batch(texts, add_special_tokens=False)`."""
        return [self._text_ids(text) for text in texts]

    def _text_ids(self, text: str) -> list[int]:
        if any(token in text for token in self._added):
            return self._tokenizer.encode(text, add_special_tokens=False).ids
        if not text.isascii():
            try:
                text = NON_ASCII.sub(self._normalized, text)
            except _Unmirrored:
                return self._tokenizer.encode(text, add_special_tokens=False).ids
        text = text.translate(ASCII_CONTROLS)
        if self._lowercase:  # what is left to lowercase is ASCII; bytes.lower() touches nothing else
            text = text.lower() if text.isascii() else text.encode().lower().decode()
        if len(self._pieces) > MAX_CACHED_WORDS:
            self._pieces.clear()
        return list(chain.from_iterable(map(self._pieces.__getitem__, WORDS.findall(text))))

    def _normalized(self, match: re.Match) -> str:
        char = match.group()
        if char not in self._characters:
            self._characters[char] = self._split_ready(char)
        form = self._characters[char]
        if form is None:
            raise _Unmirrored(char)
        return form

    def _split_ready(self, char: str) -> str | None:
        """The normalizer's output for one character, punctuation spaced apart; None if the regex would differ."""
        out = []
        for c in self._tokenizer.normalizer.normalize_str(char):
            pieces = [piece for piece, _ in self._tokenizer.pre_tokenizer.pre_tokenize_str(f"a{c}a")]
            if pieces == ["a", c, "a"]:
                out.append(f" {c} ")
            elif pieces == ["a", "a"]:
                out.append(" ")
            elif pieces == [f"a{c}a"] and not c.isspace():
                out.append(c)
            else:
                return None
        return "".join(out)
