"""Pair classification: how well the cosine of two embeddings separates paraphrases from non-paraphrases.

Thresholds are searched as sentence-transformers' BinaryClassificationEvaluator does, so figures compare.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from sklearn.metrics import average_precision_score

from embedlab.data.labeled import LabeledPairs, read_labeled_pairs
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.sts import encode_sentence_pairs
from embedlab.instructions import task_setting
from embedlab.similarity import pairwise_cosine


class CutPoints(NamedTuple):
    """Every distinct way to split pairs by score: predict 1 for scores >= threshold[i].

    `predicted[i]` pairs are predicted 1, of which `true_positives[i]` are labeled 1.
    """

    threshold: np.ndarray
    predicted: np.ndarray
    true_positives: np.ndarray


def cut_points(scores: np.ndarray, labels: np.ndarray) -> CutPoints:
    """One cut after each run of equal scores (best first), at the midpoint to the next lower score.

    Computed in the scores' dtype; a midpoint that rounds onto the next score falls back to the higher one,
    so that the threshold never admits the next group.
    """
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    current, following = ranked[ends[:-1]], ranked[ends[:-1] + 1]
    midpoint = (current + following) / 2
    threshold = np.append(np.where(midpoint == following, current, midpoint), ranked[-1])
    return CutPoints(threshold, ends + 1, np.cumsum(hits)[ends])


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Highest accuracy of any cut and its threshold; ties go to the highest threshold.

    Predicting every pair 0 (threshold just above the top score) is a candidate too.
    """
    cuts = cut_points(scores, labels)
    negatives = int((labels == 0).sum())
    correct = cuts.true_positives + negatives - (cuts.predicted - cuts.true_positives)
    best = int(np.argmax(correct))
    if correct[best] <= negatives:
        return negatives / len(labels), float(np.nextafter(scores.max(), np.inf, dtype=scores.dtype))
    return int(correct[best]) / len(labels), float(cuts.threshold[best])


def best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """(f1, precision, recall, threshold) of the cut with the highest F1 for label 1; ties go to the higher threshold.

    F1 is computed from precision and recall in that order, as the reference does, so float ties break alike.
    """
    cuts = cut_points(scores, labels)
    if cuts.true_positives[-1] == 0:
        return 0.0, 0.0, 0.0, 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = cuts.true_positives / cuts.predicted
        recall = cuts.true_positives / cuts.true_positives[-1]
        f1 = np.where(cuts.true_positives > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(precision[best]), float(recall[best]), float(cuts.threshold[best])


def evaluate_pairs(
    model: Embedder, data: str | os.PathLike | LabeledPairs, batch_size: int = 32, task: str | None = None
) -> EvalResult:
    """Average precision (main `ap`) and best-threshold F1 and accuracy of cosine scores for label 1.
    A `task` is the instruction an instruction-tuned model reads before every sentence.

    `f1_threshold` and `accuracy_threshold` are cosine values in [-1, 1], not fractions; `precision` and
    `recall` belong to the best-F1 threshold.
    """
    pairs = data if isinstance(data, LabeledPairs) else read_labeled_pairs(data)
    labels = np.asarray(pairs.label, dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise EmbedlabError(f"{pairs.name}: pair classification needs both labels 0 and 1")
    scores = pairwise_cosine(*encode_sentence_pairs(model, pairs.sentence1, pairs.sentence2, batch_size, task))
    accuracy, accuracy_threshold = best_accuracy(scores, labels)
    f1, precision, recall, f1_threshold = best_f1(scores, labels)
    metrics = {
        "ap": float(average_precision_score(labels, scores)),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "f1_threshold": f1_threshold,
        "accuracy": accuracy,
        "accuracy_threshold": accuracy_threshold,
    }
    settings = {"batch_size": batch_size, "pairs": len(labels), "positives": int(labels.sum()), "score": "cosine"}
    settings |= task_setting(task)
    return EvalResult("pairs", pairs.name, model.name, metrics, "ap", settings)
