"""Quantized scan stores: int8 (per-dimension calibrated) or binary (sign bit) codes, top candidates rescored exactly.

The scan reads 4x (int8) or 32x (binary) fewer bytes than float32; the full vectors, memory-mapped after loading,
are read only for the k * rescore_multiplier candidates of each query. The kernels are int8 x int8 matrix products
(torch._int_mm: VNNI / AMX through oneDNN) and FAISS's Hamming scan, one cache-sized chunk of codes at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embedlab.errors import EmbedlabError
from embedlab.index.exact import ExactStore
from embedlab.index.store import Scalar, StoreHit, Where, check_queries, load_settings, save_settings

CODES_FILE = "codes.npz"
# Queries per scan step: bounds the (queries x chunk_size) score block whatever the batch.
QUERY_BLOCK = 1024


@dataclass(frozen=True)
class QuantizedConfig:
    """Candidates per query (k * rescore_multiplier), code rows per scan step, and the int8 calibration.

    int8 maps each dimension's [100 - p, p] percentile range (p = calibration_percentile) onto its 256 levels,
    measured on up to calibration_sample stored vectors; values outside are clipped.
    """

    rescore_multiplier: int = 4
    chunk_size: int = 65_536
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
        """float32 scores of each query against each code row: the ranking the scan must reproduce.

        x ~ low + (code + 128) * step, so q.x = (q * step).code + a term equal for every row, left out of the ranking.
        """
        return np.einsum("...d,...d->...", codes.astype(np.float32), queries * self.step, dtype=np.float32)

    def prepare(self, queries: np.ndarray) -> torch.Tensor:
        """Each query times step, rounded onto int8 with its own scale, for int8 x int8 products (VNNI, AMX)."""
        scaled = queries * self.step
        scale = np.maximum(np.abs(scaled).max(axis=1, keepdims=True), np.finfo(np.float32).tiny) / 127
        return torch.from_numpy(np.rint(scaled / scale).astype(np.int8))

    def best(self, prepared: torch.Tensor, codes: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """The `wanted` best code rows per query by int8 product: exact int32 sums, so only rounding the query
        can reorder rows; refine() then ranks them by float32 scores."""
        top = torch.topk(torch._int_mm(prepared, torch.from_numpy(codes).T), wanted, dim=1)
        return top.values.numpy(), top.indices.numpy()

    def depth(self, wanted: int) -> int:
        # Twice the rows refine() keeps: a row of the float32 top `wanted` is then lost only if rounding the query
        # moved it past as many rows again.
        return 2 * wanted

    def refine(self, queries: np.ndarray, codes: np.ndarray, found: np.ndarray, wanted: int) -> np.ndarray:
        """Of each query's found rows, the `wanted` best by float32 code scores (today's int8 ranking)."""
        scores = self.scores(queries[:, None, :], codes[found])
        keep = np.argsort(-scores, axis=1, kind="stable")[:, :wanted]
        return np.take_along_axis(found, keep, axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"low": self.low, "step": self.step}


class BinaryCodec:
    """One sign bit per dimension, packed 8 to a byte; rows rank by Hamming distance to the query's bits."""

    @classmethod
    def fit(cls, vectors: np.ndarray, config: QuantizedConfig) -> BinaryCodec:
        return cls()

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits(vectors > 0, axis=1)

    def prepare(self, queries: np.ndarray) -> np.ndarray:
        return self.encode(queries)

    def best(self, prepared: np.ndarray, codes: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """The `wanted` nearest code rows per query by Hamming distance (FAISS's popcount kernel), as -distance."""
        import faiss  # the index extra; registry.py checks for it before a binary store is made

        distances, rows = faiss.knn_hamming(prepared, np.ascontiguousarray(codes), wanted)
        return -distances, rows

    def depth(self, wanted: int) -> int:
        return wanted  # Hamming distances are the ranking itself: nothing to refine

    def refine(self, queries: np.ndarray, codes: np.ndarray, found: np.ndarray, wanted: int) -> np.ndarray:
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        return {}


Codec = Int8Codec | BinaryCodec
CODECS: dict[str, type[Codec]] = {"int8": Int8Codec, "binary": BinaryCodec}


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
        """Each query's `wanted` best rows among `rows` by code score, QUERY_BLOCK x chunk_size codes at a time."""
        codec, codes = self._current_codes()
        every_row = len(rows) == len(codes)  # then chunks are slices of the codes, not copies
        depth = codec.depth(wanted)
        found = []
        for first in range(0, len(queries), QUERY_BLOCK):
            block = queries[first : first + QUERY_BLOCK]
            prepared = codec.prepare(block)
            best_rows = np.empty((len(block), 0), dtype=np.int64)
            best_scores = np.empty((len(block), 0), dtype=np.int64)  # both codecs score in integers
            for start in range(0, len(rows), self.config.chunk_size):
                part = rows[start : start + self.config.chunk_size]
                chunk = codes[start : start + len(part)] if every_row else codes[part]
                scores, positions = codec.best(prepared, chunk, min(depth, len(part)))
                best_scores = np.concatenate([best_scores, scores.astype(np.int64)], axis=1)
                best_rows = np.concatenate([best_rows, part[positions]], axis=1)
                if best_scores.shape[1] > depth:
                    keep = np.argpartition(-best_scores, depth - 1, axis=1)[:, :depth]
                    best_scores = np.take_along_axis(best_scores, keep, axis=1)
                    best_rows = np.take_along_axis(best_rows, keep, axis=1)
            found.append(codec.refine(block, codes, best_rows, wanted))
        return np.concatenate(found)
