"""Quantized scan stores: int8 (per-dimension calibrated) or binary (sign bit) codes, top candidates rescored exactly.

The scan reads 4x (int8) or 32x (binary) fewer bytes than float32; the full vectors, memory-mapped after loading,
are read only for the k * rescore_multiplier candidates of each query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.index.exact import ExactStore
from embedlab.index.store import Scalar, StoreHit, Where, check_queries, load_settings, save_settings

CODES_FILE = "codes.npz"
HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_BYTE_POPCOUNT = np.array([byte.bit_count() for byte in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class QuantizedConfig:
    """Candidates per query (k * rescore_multiplier), code rows per scan step, and the int8 calibration.

    int8 maps each dimension's [100 - p, p] percentile range (p = calibration_percentile) onto its 256 levels,
    measured on up to calibration_sample stored vectors; values outside are clipped.
    """

    rescore_multiplier: int = 4
    chunk_size: int = 16_384
    calibration_percentile: float = 99.9
    calibration_sample: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.rescore_multiplier, self.chunk_size, self.calibration_sample) < 1 or not (
            50 < self.calibration_percentile <= 100
        ):
            raise EmbedlabError(f"quantized store settings need sizes >= 1 and a percentile in (50, 100], got {self}")


class Int8Codec:
    """Dimension d's range [low_d, low_d + 255 * step_d] mapped linearly onto the int8 levels -128..127."""

    def __init__(self, low: np.ndarray, step: np.ndarray) -> None:
        self.low, self.step = low, step

    @classmethod
    def fit(cls, vectors: np.ndarray, config: QuantizedConfig) -> Int8Codec:
        rng = np.random.default_rng(config.seed)
        sample = vectors if len(vectors) <= config.calibration_sample else vectors[
            np.sort(rng.choice(len(vectors), config.calibration_sample, replace=False))]
        low, high = np.percentile(sample, [100 - config.calibration_percentile, config.calibration_percentile], axis=0)
        # A constant dimension still needs a non-zero step; any code then decodes to its one value.
        step = np.maximum(high - low, 1e-12) / 255
        return cls(low.astype(np.float32), step.astype(np.float32))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return (np.clip(np.rint((vectors - self.low) / self.step), 0, 255) - 128).astype(np.int8)

    def scores(self, queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
        # x ~ low + (code + 128) * step, so q.x = (q * step).code + a term equal for every row, left out of the ranking.
        return (codes.astype(np.float32) @ (queries * self.step).T).T

    def arrays(self) -> dict[str, np.ndarray]:
        return {"low": self.low, "step": self.step}


class BinaryCodec:
    """One sign bit per dimension, packed 8 to a byte; rows rank by Hamming distance to the query's bits."""

    @classmethod
    def fit(cls, vectors: np.ndarray, config: QuantizedConfig) -> BinaryCodec:
        return cls()

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits(vectors > 0, axis=1)

    def scores(self, queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
        # Word by word over (queries x rows) planes: far faster than one XOR cube summed along a short last axis.
        query_words, code_words = _words(self.encode(queries)), _words(codes)
        distance = np.zeros((len(queries), len(codes)), dtype=np.uint16)  # dims < 65,536
        for query_word, code_word in zip(query_words.T, np.ascontiguousarray(code_words.T)):
            distance += _popcount(query_word[:, None] ^ code_word[None, :])
        return -distance.astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {}


Codec = Int8Codec | BinaryCodec
CODECS: dict[str, type[Codec]] = {"int8": Int8Codec, "binary": BinaryCodec}


def _words(packed: np.ndarray) -> np.ndarray:
    """Packed bytes viewed as 64-bit words where the width and numpy allow: 8x fewer XOR and popcount steps."""
    packed = np.ascontiguousarray(packed)
    return packed.view(np.uint64) if HAS_BITWISE_COUNT and packed.shape[1] % 8 == 0 else packed


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each word: np.bitwise_count from numpy 2, else a byte table (then `words` are bytes)."""
    return np.bitwise_count(words) if HAS_BITWISE_COUNT else _BYTE_POPCOUNT[words]


def memory_per_vector(kind: str, dim: int) -> int:
    """Bytes per vector of what a scan reads: float32 for "exact", then int8 and binary codes."""
    sizes = {"exact": 4 * dim, "int8": dim, "binary": math.ceil(dim / 8)}
    if kind not in sizes:
        raise EmbedlabError(f"no scan size for {kind!r}; choose one of: {', '.join(sizes)}")
    return sizes[kind]


class QuantizedStore:
    """An ExactStore plus codes of its rows, re-encoded (and int8 recalibrated) on the first search after a change."""

    def __init__(self, dim: int, kind: str = "int8", config: QuantizedConfig = QuantizedConfig()) -> None:
        if kind not in CODECS:
            raise EmbedlabError(f"unknown quantization {kind!r}; choose one of: {', '.join(CODECS)}")
        self.exact = ExactStore(dim)
        self.dim = dim
        self.kind = kind
        self.config = config
        self._codec: Codec | None = None
        self._codes: np.ndarray | None = None  # None: stale, encode before the next search

    def __len__(self) -> int:
        return len(self.exact)

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Scalar]] | None = None
    ) -> None:
        self.exact.upsert(ids, vectors, metadata)
        self._codes = None

    def delete(self, ids: Sequence[str]) -> int:
        removed = self.exact.delete(ids)
        if removed:
            self._codes = None
        return removed

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> list[list[StoreHit]]:
        queries = check_queries(queries, self.dim, k)
        rows = self.exact.rows_where(where)
        if len(rows) == 0:
            return [[] for _ in queries]
        candidates = self._scan(queries, rows, min(k * self.config.rescore_multiplier, len(rows)))
        return self.exact.rescore(queries, candidates, k)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.exact.save(directory)
        save_settings(directory, self.kind, self.config)
        if len(self):  # an empty store has nothing to calibrate on, and no codes
            codec, codes = self._current_codes()
            with open(directory / CODES_FILE, "wb") as handle:
                np.savez(handle, codes=codes, **codec.arrays())

    @classmethod
    def load(cls, directory: Path, dim: int, kind: str, **options: Any) -> QuantizedStore:
        """Reopen a saved store: codes in memory, full vectors memory-mapped; options replace saved config fields."""
        directory = Path(directory)
        store = cls(dim, kind, load_settings(directory, kind, QuantizedConfig, options))
        store.exact = ExactStore.load(directory, dim, mmap=True)
        if not len(store):
            return store
        try:
            with np.load(directory / CODES_FILE, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            store._codec = CODECS[kind](**{name: arrays[name] for name in arrays if name != "codes"})
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EmbedlabError(f"cannot read the {kind} codes in {directory}: {err}") from None
        if len(arrays["codes"]) != len(store.exact):
            raise EmbedlabError(f"{directory}: {len(arrays['codes'])} codes for {len(store.exact)} vectors")
        store._codes = arrays["codes"]
        return store

    def _current_codes(self) -> tuple[Codec, np.ndarray]:
        if self._codes is None:
            vectors, step = self.exact.vectors, self.config.chunk_size
            self._codec = CODECS[self.kind].fit(vectors, self.config)
            self._codes = np.concatenate(
                [self._codec.encode(vectors[start : start + step]) for start in range(0, len(vectors), step)]
            )
        return self._codec, self._codes

    def _scan(self, queries: np.ndarray, rows: np.ndarray, wanted: int) -> np.ndarray:
        """Each query's `wanted` best rows among `rows` by code score, `chunk_size` code rows at a time."""
        codec, codes = self._current_codes()
        best_rows = np.empty((len(queries), 0), dtype=np.int64)
        best_scores = np.empty((len(queries), 0), dtype=np.float32)
        for start in range(0, len(rows), self.config.chunk_size):
            part = rows[start : start + self.config.chunk_size]
            scores = np.concatenate([best_scores, codec.scores(queries, codes[part])], axis=1)
            found = np.concatenate([best_rows, np.broadcast_to(part, (len(queries), len(part)))], axis=1)
            if scores.shape[1] > wanted:
                keep = np.argpartition(-scores, wanted - 1, axis=1)[:, :wanted]
                scores, found = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(found, keep, axis=1)
            best_rows, best_scores = found, scores
        return best_rows
