"""Semantic textual similarity: how well embedding similarity ranks pairs like graded human scores do.

Reports the rank (Spearman) and linear (Pearson) correlation for cosine, dot, and negated distances,
as sentence-transformers' EmbeddingSimilarityEvaluator does, so published STS-B figures compare directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr

from embedlab.data.labeled import ScoredPairs, read_scored_pairs
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.instructions import encode_for_task, task_setting
from embedlab.similarity import pairwise_cosine

# Distances are negated so that, like cosine and dot, a higher score means more similar.
PAIR_SCORES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "cosine": pairwise_cosine,
    "dot": lambda a, b: (a * b).sum(axis=1),
    "euclidean": lambda a, b: -np.linalg.norm(a - b, axis=1),
    "manhattan": lambda a, b: -np.abs(a - b).sum(axis=1),
}


def encode_sentence_pairs(
    model: Embedder, sentence1: list[str], sentence2: list[str], batch_size: int = 32, task: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of both sides of aligned pairs, each distinct sentence encoded once (for `task`, if given).

    Pair datasets repeat sentences across rows; encoding them once saves time and keeps repeats identical.
    """
    unique = list(dict.fromkeys([*sentence1, *sentence2]))
    embeddings = np.asarray(encode_for_task(model, unique, task, batch_size=batch_size))
    row = {sentence: i for i, sentence in enumerate(unique)}
    return embeddings[[row[s] for s in sentence1]], embeddings[[row[s] for s in sentence2]]


def gold_scores(pairs: ScoredPairs) -> np.ndarray:
    """The gold scores as float64; fewer than 2 pairs or all-equal scores leave no correlation to measure."""
    gold = np.asarray(pairs.score, dtype=np.float64)
    if len(gold) < 2 or np.all(gold == gold[0]):
        raise EmbedlabError(f"{pairs.name}: STS needs at least 2 pairs with differing gold scores")
    return gold


def evaluate_sts(
    model: Embedder, data: str | os.PathLike | ScoredPairs, batch_size: int = 32, task: str | None = None
) -> EvalResult:
    """Correlations of pair similarity with gold scores; main metric `spearman` (cosine). A `task` is the
    instruction an instruction-tuned model reads before every sentence (embedlab/instructions.py).

    Other keys: `pearson` (cosine) and `{dot,euclidean,manhattan}_{spearman,pearson}`. A model whose
    scores are all equal has undefined correlation and gets NaN rather than an error.
    """
    pairs = data if isinstance(data, ScoredPairs) else read_scored_pairs(data)
    gold = gold_scores(pairs)
    a, b = encode_sentence_pairs(model, pairs.sentence1, pairs.sentence2, batch_size, task)
    metrics: dict[str, float] = {}
    for name, score in PAIR_SCORES.items():
        predicted = np.asarray(score(a, b), dtype=np.float64)
        prefix = "" if name == "cosine" else f"{name}_"
        metrics[f"{prefix}spearman"] = correlation(spearmanr, gold, predicted)
        metrics[f"{prefix}pearson"] = correlation(pearsonr, gold, predicted)
    settings = {"batch_size": batch_size, "pairs": len(gold), "score_range": [float(gold.min()), float(gold.max())]}
    settings |= task_setting(task)
    return EvalResult("sts", pairs.name, model.name, metrics, "spearman", settings)


def correlation(statistic: Callable, gold: np.ndarray, predicted: np.ndarray) -> float:
    # scipy warns and returns NaN for constant input; NaN is the honest value, the warning only noise.
    if np.all(predicted == predicted[0]):
        return float("nan")
    return float(statistic(gold, predicted)[0])
