"""StaticEncoder: sentence vectors as (optionally SIF-weighted) means of word or sub-word vectors.

GloVe files split text into words; distilled models and static model directories (model2vec's format and
sentence-transformers' StaticEmbedding, models/static_dir.py) use a transformer's tokenizer.
A fast, dependency-light encoder that shares the transformer Encoder's `encode` signature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.files import open_text
from embedlab.instructions import query_prompt_for
from embedlab.models.encode_options import check_encode_options
from embedlab.models.inputs import as_text_list
from embedlab.models.static_dir import (
    StaticFiles,
    StaticSettings,
    is_model2vec_dir,
    is_st_static_dir,
    read_static_dir,
    write_static_dir,
)
from embedlab.models.wordpiece_cache import CachedWordPiece
from embedlab.progress import progress_bar
from embedlab.similarity import unit_rows

CHUNK = 1024

# Words, numbers and clitics like "don't"; punctuation is dropped even though GloVe has
# vectors for it, because "," and "." would pull every sentence mean towards the same point.
TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case `text` and split it into word tokens.

    Lower-casing matches GloVe 6B, whose vocabulary is uncased.
    """
    return TOKEN_RE.findall(text.lower())


def zipf_sif_weights(vocab_size: int, a: float = 1e-3) -> np.ndarray:
    """SIF weights a / (a + p(w)) with p(w) from a Zipf law over the frequency rank.

    GloVe files hold no counts, only frequency order, so p(w) = (1/rank) / sum_r (1/r).
    """
    inverse_rank = 1.0 / np.arange(1, vocab_size + 1, dtype=np.float64)
    p = inverse_rank / inverse_rank.sum()
    return (a / (a + p)).astype(np.float32)


class StaticEncoder:
    """Encode texts as the mean of their in-vocabulary word vectors (SIF-weighted if asked).

    Out-of-vocabulary tokens are skipped; a text with no known token encodes to the zero vector.
    """

    def __init__(
        self,
        words: list[str],
        vectors: np.ndarray,
        weights: np.ndarray | None = None,
        name: str = "static",
        tokenizer: Any = None,
        settings: StaticSettings | None = None,
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[1] == 0:
            raise ModelLoadError(f"vectors must have shape ({len(words)}, d>0), got {vectors.shape}")
        self._sif = weights is not None
        weights = np.ones(len(words), np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        if weights.shape != (len(words),):
            raise ModelLoadError(f"weights must have shape ({len(words)},), got {weights.shape}")
        self._vectors = vectors
        self._weights = weights
        self._name = name
        self._settings = settings or StaticSettings()
        # A `tokenizers.Tokenizer` whose ids are the rows (sub-word models); None means GloVe-style words.
        self._tokenizer = tokenizer
        self._unknown_id = _unknown_token_id(tokenizer) if tokenizer is not None else None
        self._wordpiece = CachedWordPiece.for_tokenizer(tokenizer) if tokenizer is not None else None
        self._index: dict[str, int] = {}
        for i, word in enumerate(words):
            self._index.setdefault(word, i)  # on duplicates keep the earlier, more frequent row

    @classmethod
    def load(
        cls, path: str | Path, *, sif: bool = False, sif_a: float = 1e-3, max_words: int | None = None
    ) -> StaticEncoder:
        """Read a GloVe text file (`.txt` or `.txt.gz`, one `word v1 ... vd` per line).

        `max_words` keeps the first (most frequent) words; `sif` adds rank-based SIF weights.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"GloVe file not found: {path}")
        if max_words is not None and max_words < 1:
            raise ModelLoadError(f"max_words must be >= 1, got {max_words}")
        try:
            with open_text(path) as handle:
                words, vectors = _parse_glove(islice(handle, max_words), path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"cannot read GloVe file {path}: {exc}") from None
        weights = zipf_sif_weights(len(words), sif_a) if sif else None
        return cls(words, vectors, weights, name=path.name.removesuffix(".gz").removesuffix(".txt"))

    @classmethod
    def load_dir(cls, path: str | Path) -> StaticEncoder:
        """Read a static model directory: model2vec's format or sentence-transformers' StaticEmbedding."""
        path = Path(path)
        if not is_static_dir(path):
            raise ModelLoadError(
                f"{path} is not a static model directory (model2vec's config.json or a StaticEmbedding in modules.json)"
            )
        files = read_static_dir(path)
        words = [token for token, _ in sorted(files.tokenizer.get_vocab().items(), key=lambda item: item[1])]
        settings = files.settings
        return cls(words, files.vectors, files.weights, name=path.name, tokenizer=files.tokenizer, settings=settings)

    def save(self, path: str | Path, config: dict[str, Any] | None = None) -> Path:
        """Write a sub-word static model as one directory that load_dir, model2vec and sentence-transformers read.

        config adds provenance (teacher, settings) to config.json; GloVe-style models have no tokenizer to save.
        The directory is written beside the target and swapped in whole, so a failed save leaves the old copy.
        """
        from embedlab.atomic import atomic_directory

        if self._tokenizer is None:
            raise EmbedlabError("only sub-word static models (made by distill) can be saved; GloVe is a text file")
        path = Path(path)
        if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or is_static_dir(path))):
            raise EmbedlabError(f"{path} exists and is not a static model directory; refusing to overwrite it")
        files = StaticFiles(self._tokenizer, self._vectors, self._weights if self._sif else None, self._settings)
        with atomic_directory(path) as staging:
            write_static_dir(staging, files, config or {})
        return path

    @property
    def dim(self) -> int:
        """Length of every vector this encoder returns when `dim` is not given."""
        return int(self._vectors.shape[1])

    @property
    def name(self) -> str:
        """A short label for reports, taken from the file name when loaded."""
        return self._name

    @property
    def max_seq_length(self) -> int | None:
        """Tokens kept per text: None (averaging has no length limit) unless the saved model cuts texts."""
        return self._settings.max_seq_length

    @property
    def prompts(self) -> dict[str, str]:
        """Always empty: word averages were trained with no prompts."""
        return {}

    @property
    def query_prompt(self) -> str:
        return ""

    @property
    def document_prompt(self) -> str:
        return ""

    @property
    def normalize(self) -> bool:
        """Whether encode returns unit vectors unless told otherwise (a sentence-transformers model: its Normalize)."""
        return self._settings.normalize

    @property
    def tokenizer(self) -> None:
        """None: texts are measured in whitespace words (a distilled model's sub-word tokenizer is internal)."""
        return None

    def info(self) -> dict[str, Any]:
        """Describe the encoder in the same shape as the transformer Encoder's info()."""
        details = {
            "name": self._name,
            "kind": "static",
            "dim": self.dim,
            "vocab_size": len(self._index),
            "sif": self._sif,
            "pooling": "mean",
        }
        return details | ({"tokens": "sub-word (distilled)"} if self._tokenizer is not None else {})

    def encode(
        self,
        texts: str | Iterable[str],
        batch_size: int = 32,
        prompt: str | None = None,
        prompt_name: str | None = None,
        normalize: bool | None = None,
        dim: int | None = None,
        show_progress: bool | None = None,
        convert_to: str = "numpy",
        max_tokens: int | None = None,
    ) -> Any:
        """Return float32 vectors of shape (n, d), or (d,) for one bare string.

        Each vector is (1/k) * sum of weight * vector over the text's k known tokens; all-OOV gives zeros.
        max_tokens is accepted for the Encoder's signature; averaging pads nothing, so it changes nothing.
        """
        items, single = as_text_list(texts)
        if prompt_name is not None:
            raise EmbedlabError(f"prompt_name={prompt_name!r}: a static model has no configured prompts")
        check_encode_options(batch_size, dim, self.dim, convert_to, max_tokens)
        prefix = prompt or ""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        # Batches of at least CHUNK texts: one sparse product per batch, so Python overhead stays small.
        step = max(batch_size, CHUNK)
        # show_progress=None means off: averaging is cheap enough that a bar is rarely worth drawing.
        with progress_bar(len(items), f"encoding with {self._name}", bool(show_progress)) as advance:
            for start in range(0, len(items), step):
                chunk = [prefix + text for text in items[start : start + step]]
                out[start : start + len(chunk)] = self._mean_vectors(*self._token_rows(chunk))
                advance(len(chunk))
        out = out[:, :dim] if dim is not None else out
        if self.normalize if normalize is None else normalize:
            out = unit_rows(out)
        result = out[0] if single else out
        if convert_to == "torch":
            import torch  # deferred so numpy-only users of static vectors never pay torch's import time

            return torch.from_numpy(np.ascontiguousarray(result))
        return result

    def query_prompt_for(self, task: str | None) -> str:
        """"" without a task; with one, the default instruction (a static model has no template of its own)."""
        return query_prompt_for("", None, task)

    def encode_queries(self, queries: str | Iterable[str], task: str | None = None, **kwargs: Any) -> Any:
        """Word averages have no query prompt: the same as encode unless a task adds the default instruction."""
        return self.encode(queries, prompt=self.query_prompt_for(task) or None, **kwargs)

    def encode_documents(self, documents: str | Iterable[str], **kwargs: Any) -> Any:
        """The same as encode (see encode_queries)."""
        return self.encode(documents, **kwargs)

    def _token_rows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every known token's vocabulary row, flat, and how many each text has: the tokenizer's ids or GloVe words.

        Sub-word ids come from the word memo where it mirrors the tokenizer (BERT's), else from the Rust
        tokenizer in one call (its fast path, without offsets, where available).
        """
        if self._tokenizer is None:
            ids = [self._token_ids(text) for text in texts]
        elif self._wordpiece is not None:
            ids = self._wordpiece.ids(texts)
        else:
            encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
            ids = [e.ids for e in encode(texts, add_special_tokens=False)]
        if self.max_seq_length is not None:
            ids = [row[: self.max_seq_length] for row in ids]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        columns = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        if self._unknown_id is not None and not self._settings.count_unknown:
            known = columns != self._unknown_id
            before = np.concatenate([[0], np.cumsum(known)])
            ends = np.cumsum(lengths)
            lengths = before[ends] - before[ends - lengths]
            columns = columns[known]
        return columns, lengths

    def _mean_vectors(self, columns: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Weighted means as one sparse (texts x vocabulary) product, built row by row; empty texts stay zero."""
        # float32 throughout: a float64 matrix would make scipy copy every vector to float64 on each call.
        values = self._weights[columns] / np.repeat(np.maximum(lengths, 1), lengths).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        matrix = sparse.csr_matrix((values, columns, indptr), shape=(len(lengths), len(self._vectors)))
        return np.asarray(matrix @ self._vectors, dtype=np.float32)

    def _token_ids(self, text: str) -> list[int]:
        """Map a text to vocabulary rows, splitting clitics the way GloVe's own tokenizer did.

        GloVe 6B stores "don't" as "do" + "n't" and "cat's" as "cat" + "'s", so unknown clitic tokens are split.
        """
        ids: list[int] = []
        for token in tokenize(text):
            if token in self._index or "'" not in token:
                parts = [token]
            elif token.endswith("n't"):
                parts = [token[:-3], "n't"]
            else:
                stem, _, suffix = token.partition("'")
                parts = [stem, "'" + suffix]
            ids.extend(self._index[part] for part in parts if part in self._index)
        return ids


def is_static_dir(path: Path) -> bool:
    """Whether a directory holds a static model (model2vec's or sentence-transformers'), read as a StaticEncoder."""
    return is_model2vec_dir(path) or is_st_static_dir(path)


def check_static_backend(backend: str) -> None:
    """Static models are table look-ups with one implementation; asking for another backend is a mistake."""
    if backend not in ("torch", "auto"):
        raise ModelLoadError(
            f"backend {backend!r} is for transformers; a static model has no backends (drop --backend)"
        )


def _unknown_token_id(tokenizer: Any) -> int | None:
    """The id of the tokenizer's unknown token, which carries no meaning and is left out of means."""
    unknown = json.loads(tokenizer.to_str()).get("model", {}).get("unk_token")
    return tokenizer.token_to_id(unknown) if unknown else None


def _parse_glove(lines: Iterable[str], path: Path) -> tuple[list[str], np.ndarray]:
    """Split GloVe lines into words and a float32 matrix, checking every line has d finite floats.

    One numpy conversion for the whole file rather than one per line (far faster); a bad value is located afterwards.
    """
    words: list[str] = []
    rows: list[str] = []
    line_numbers: list[int] = []
    width = 0
    for number, line in enumerate(lines, 1):
        word, _, row = line.rstrip("\r\n ").partition(" ")
        if not word:
            continue  # blank lines (e.g. a trailing newline) carry no word
        count = row.count(" ") + 1 if row else 0
        width = width or count
        if count == 0 or count != width:
            raise ModelLoadError(f"{path} line {number}: expected {width or 'some'} floats after the word, got {count}")
        words.append(word)
        rows.append(row)
        line_numbers.append(number)
    if not words:
        raise ModelLoadError(f"GloVe file is empty: {path}")
    try:
        matrix = np.array(" ".join(rows).split(" "), dtype=np.float32).reshape(len(words), width)
    except ValueError:
        matrix = None
    if matrix is None or not np.isfinite(matrix).all():
        bad = next(i for i, row in enumerate(rows) if not _is_finite_row(row))
        raise ModelLoadError(f"{path} line {line_numbers[bad]}: a value is not a finite float")
    return words, matrix


def _is_finite_row(row: str) -> bool:
    """Whether every space-separated field of `row` parses as a finite float."""
    try:
        return bool(np.isfinite(np.array(row.split(" "), dtype=np.float32)).all())
    except ValueError:
        return False
