"""STS for models that score a pair directly (cross-encoders): correlation of their scores with gold scores.

Beside evaluate_sts so the bi-encoder vs cross-encoder comparison reads the same data and the same statistics.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from embedlab.data.labeled import ScoredPairs, read_scored_pairs
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.sts import correlation, gold_scores


def evaluate_pair_scorer(model: Any, data: str | os.PathLike | ScoredPairs, batch_size: int = 32) -> EvalResult:
    """Spearman (main) and Pearson of `model.predict(pairs)` against gold scores."""
    pairs = data if isinstance(data, ScoredPairs) else read_scored_pairs(data)
    gold = gold_scores(pairs)
    predicted = np.asarray(
        model.predict(list(zip(pairs.sentence1, pairs.sentence2)), batch_size=batch_size), np.float64
    )
    metrics = {"spearman": correlation(spearmanr, gold, predicted), "pearson": correlation(pearsonr, gold, predicted)}
    settings = {"batch_size": batch_size, "pairs": len(gold), "scorer": "cross_encoder"}
    return EvalResult("sts", pairs.name, model.name, metrics, "spearman", settings)
