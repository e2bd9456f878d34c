"""Near-duplicate detection: texts whose embeddings lie within a cosine threshold, grouped transitively.

Pairs come from a vector store's k-NN search in query chunks, so 100k texts never need an N x N matrix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from embedlab.atomic import write_text
from embedlab.data.labeled import LabeledPairs, read_labeled_pairs
from embedlab.data.texts import read_texts
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.pairs import best_f1
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.sts import encode_sentence_pairs
from embedlab.index.registry import create_store
from embedlab.similarity import pairwise_cosine, unit_rows

STORES = ("exact", "faiss-hnsw")


@dataclass(frozen=True)
class DedupConfig:
    """Cosine `threshold` for a duplicate, `k` neighbours searched per text, the vector store and batch sizes.

    Groups are transitive, so a text with more than k near-duplicates still joins them through its neighbours.
    """

    threshold: float = 0.9
    k: int = 10
    store: str = "exact"
    batch_size: int = 32
    chunk_size: int = 256

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise EmbedlabError(f"threshold must be a cosine between -1 and 1, got {self.threshold}")
        if self.store not in STORES:
            raise EmbedlabError(f"store must be one of {', '.join(STORES)}, got {self.store!r}")
        if min(self.k, self.batch_size, self.chunk_size) < 1:
            raise EmbedlabError(f"k, batch_size and chunk_size must be >= 1, got {self.k}, {self.batch_size}, "
                                f"{self.chunk_size}")


class DuplicatePair(NamedTuple):
    """Two rows (first < second) whose cosine reaches the threshold."""

    first: int
    second: int
    score: float


@dataclass
class DedupResult:
    """The rows kept (each group's first occurrence, in input order), their row numbers and a JSON-ready report."""

    kept: list
    kept_rows: list[int]
    report: dict


def unit_vectors(embeddings: Any) -> np.ndarray:
    """Embeddings as float32 (n, d) rows of length 1 (zero rows stay zero), as vector stores expect."""
    array = np.asarray(embeddings, dtype=np.float32)
    if array.ndim != 2:
        raise EmbedlabError(f"embeddings must be 2-D (n, d), got shape {array.shape}")
    return unit_rows(array)


def find_duplicate_pairs(
    embeddings: Any, threshold: float, k: int, store: str = "exact", chunk_size: int = 256
) -> list[DuplicatePair]:
    """Pairs with cosine >= threshold where one row is among the other's k nearest neighbours, sorted by rows.

    The store is queried chunk_size rows at a time, so memory stays that many rows of scores, never N x N.
    """
    vectors = unit_vectors(embeddings)
    n = len(vectors)
    if n < 2:
        return []
    index = create_store(store, vectors.shape[1])
    index.upsert([str(row) for row in range(n)], vectors)
    found: dict[tuple[int, int], float] = {}
    for start in range(0, n, chunk_size):
        # One extra neighbour, since a row usually finds itself first.
        hits = index.search(vectors[start : start + chunk_size], min(k + 1, n))
        for row, neighbours in enumerate(hits, start):
            others = [(int(hit.id), hit.score) for hit in neighbours if hit.id != str(row)][:k]
            for other, score in others:
                if score >= threshold:
                    found.setdefault((min(row, other), max(row, other)), score)
    return [DuplicatePair(first, second, score) for (first, second), score in sorted(found.items())]


def group_duplicates(n: int, pairs: Iterable[tuple[int, int] | DuplicatePair]) -> list[list[int]]:
    """Connected components of rows 0..n-1 joined by pairs: each row in exactly one group, singletons included.

    Union-find with path compression; the lowest row stays each root, so groups come ascending and in order.
    """
    parent = list(range(n))

    def root(row: int) -> int:
        top = row
        while parent[top] != top:
            top = parent[top]
        while parent[row] != top:
            parent[row], row = top, parent[row]
        return top

    for first, second, *_ in pairs:
        if not (0 <= first < n and 0 <= second < n):
            raise EmbedlabError(f"pair ({first}, {second}) names a row outside 0..{n - 1}")
        a, b = root(first), root(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for row in range(n):
        groups.setdefault(root(row), []).append(row)
    return list(groups.values())


def deduplicate(
    encoder: Embedder,
    texts: Sequence[str],
    config: DedupConfig = DedupConfig(),
    rows: Sequence | None = None,
    show_progress: bool | None = None,
) -> DedupResult:
    """Keep the first occurrence of each group of near-duplicate texts; `rows` (default the texts) are what is kept.

    The report holds settings, counts and every group of 2+ with each duplicate's cosine to the row kept for it.
    """
    rows = list(texts) if rows is None else list(rows)
    if not texts:
        raise EmbedlabError("no texts to deduplicate")
    if len(rows) != len(texts):
        raise EmbedlabError(f"{len(texts)} texts but {len(rows)} rows")
    embeddings = encoder.encode(list(texts), batch_size=config.batch_size, show_progress=show_progress)
    vectors = unit_vectors(embeddings)
    pairs = find_duplicate_pairs(vectors, config.threshold, config.k, config.store, config.chunk_size)
    groups = group_duplicates(len(texts), pairs)
    kept_rows = [group[0] for group in groups]
    duplicates = []
    for group in (g for g in groups if len(g) > 1):
        scores = vectors[group[1:]] @ vectors[group[0]]
        duplicates.append(
            {
                "kept": {"row": group[0], "text": texts[group[0]]},
                "duplicates": [{"row": r, "text": texts[r], "score": float(s)} for r, s in zip(group[1:], scores)],
            }
        )
    report = {
        "settings": {**asdict(config), "model": encoder.name},
        "counts": {
            "texts": len(texts),
            "kept": len(kept_rows),
            "removed": len(texts) - len(kept_rows),
            "groups": len(duplicates),
            "pairs": len(pairs),
        },
        "groups": duplicates,
    }
    return DedupResult([rows[r] for r in kept_rows], kept_rows, report)


def read_rows(path: str | os.PathLike, field: str = "text") -> tuple[list[str], list]:
    """The texts of a .txt or .jsonl file and its rows as they are (lines, or whole JSON objects for jsonl)."""
    path = Path(path)
    texts = read_texts(path, field)
    if path.suffix != ".jsonl":
        return texts, texts
    # read_texts has validated every non-blank line, so these parse and line up with the texts.
    lines = path.read_text(encoding="utf-8").split("\n")
    return texts, [json.loads(line) for line in lines if line.strip()]


def write_rows(rows: Sequence, path: str | os.PathLike) -> Path:
    """Rows in the format they were read in: JSON objects to a .jsonl file, text lines to any other name."""
    path = Path(path)
    is_jsonl = bool(rows) and isinstance(rows[0], dict)
    if bool(rows) and is_jsonl != (path.suffix == ".jsonl"):
        wanted = "a .jsonl name" if is_jsonl else "a name not ending in .jsonl"
        raise EmbedlabError(f"{path}: rows read from {'jsonl' if is_jsonl else 'text lines'} need {wanted}")
    lines = [json.dumps(row, ensure_ascii=False) if is_jsonl else row for row in rows]
    return write_text("".join(line + "\n" for line in lines), path)


def evaluate_dedup_on_pairs(
    model: Embedder,
    train: str | os.PathLike | LabeledPairs,
    test: str | os.PathLike | LabeledPairs,
    config: DedupConfig = DedupConfig(),
) -> EvalResult:
    """Tune the threshold for best F1 on train pairs (label 1 = duplicate), then score test pairs at it.

    `precision`/`recall`/`f1` judge each test pair's cosine; `group_*` judge whether deduplicating all test
    sentences together (k-NN search + union-find) puts a pair in one group. config.threshold is not used.
    """
    train_pairs = train if isinstance(train, LabeledPairs) else read_labeled_pairs(train)
    test_pairs = test if isinstance(test, LabeledPairs) else read_labeled_pairs(test)
    train_labels = np.asarray(train_pairs.label)
    test_labels = np.asarray(test_pairs.label)
    train_scores = pairwise_cosine(*encode_sentence_pairs(model, train_pairs.sentence1, train_pairs.sentence2,
                                                          config.batch_size))
    train_f1, _, _, threshold = best_f1(train_scores, train_labels)
    first, second = encode_sentence_pairs(model, test_pairs.sentence1, test_pairs.sentence2, config.batch_size)
    pair_p, pair_r, pair_f1, _ = precision_recall_fscore_support(
        test_labels, pairwise_cosine(first, second) >= threshold, average="binary", zero_division=0
    )
    grouped = same_group(test_pairs, first, second, threshold, config)
    group_p, group_r, group_f1, _ = precision_recall_fscore_support(
        test_labels, grouped, average="binary", zero_division=0
    )
    metrics = {
        "f1": float(pair_f1),
        "precision": float(pair_p),
        "recall": float(pair_r),
        "threshold": threshold,
        "train_f1": train_f1,
        "group_f1": float(group_f1),
        "group_precision": float(group_p),
        "group_recall": float(group_r),
    }
    settings = {
        **asdict(config),
        "threshold": threshold,
        "train": train_pairs.name,
        "train_pairs": len(train_labels),
        "test_pairs": len(test_labels),
        "test_positives": int(test_labels.sum()),
    }
    return EvalResult("dedup", test_pairs.name, model.name, metrics, "f1", settings)


def same_group(pairs: LabeledPairs, first: np.ndarray, second: np.ndarray, threshold: float,
               config: DedupConfig) -> list[bool]:
    """Whether deduplicating every distinct sentence of `pairs` together puts each pair's two sides in one group.

    `first` and `second` are the embeddings of the pairs' two sides, aligned with the pairs.
    """
    sentences = [*pairs.sentence1, *pairs.sentence2]
    first_row: dict[str, int] = {}
    for row, sentence in enumerate(sentences):
        first_row.setdefault(sentence, row)
    vectors = np.concatenate([first, second])[list(first_row.values())]
    found = find_duplicate_pairs(vectors, threshold, config.k, config.store, config.chunk_size)
    group_of = np.empty(len(first_row), dtype=np.int64)
    for number, group in enumerate(group_duplicates(len(first_row), found)):
        group_of[group] = number
    number_of = {sentence: number for number, sentence in enumerate(first_row)}
    return [bool(group_of[number_of[a]] == group_of[number_of[b]]) for a, b in zip(pairs.sentence1, pairs.sentence2)]
