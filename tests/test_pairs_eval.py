"""Pair classification: hand-worked thresholds, and sentence-transformers' BinaryClassificationEvaluator as oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from embedlab.data.labeled import LabeledPairs
from embedlab.errors import EmbedlabError
from embedlab.evaluation.pairs import best_accuracy, best_f1, cut_points, evaluate_pairs
from tests.fakes import LookupEncoder

evaluation = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
Reference = evaluation.BinaryClassificationEvaluator


def at_cosine(cosines: list[float]) -> tuple[LookupEncoder, list[str], list[str]]:
    """A model and pairs whose i-th pair has cosine cosines[i]: "anchor" against a unit vector at that angle."""
    table = {"anchor": [1.0, 0.0]} | {f"s{i}": [c, math.sqrt(1 - c * c)] for i, c in enumerate(cosines)}
    return LookupEncoder(table), ["anchor"] * len(cosines), [f"s{i}" for i in range(len(cosines))]


def test_hand_worked_metrics() -> None:
    # ranked by cosine: 0.9 (1), 0.8 (0), 0.6 (1), 0.3 (0)
    model, left, right = at_cosine([0.8, 0.3, 0.9, 0.6])
    result = evaluate_pairs(model, LabeledPairs(left, right, [0, 0, 1, 1], name="hand"))
    m = result.metrics
    assert (result.task, result.dataset, result.main_metric) == ("pairs", "hand", "ap")
    assert m["ap"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    # best F1 predicts the top three: precision 2/3, recall 1, cut midway between 0.6 and 0.3
    assert (m["f1"], m["precision"], m["recall"]) == pytest.approx((0.8, 2 / 3, 1.0))
    assert m["f1_threshold"] == pytest.approx(0.45, abs=1e-6)
    # best accuracy predicts only the top pair: 3 of 4 right, cut midway between 0.9 and 0.8
    assert m["accuracy"] == pytest.approx(0.75) and m["accuracy_threshold"] == pytest.approx(0.85, abs=1e-6)
    assert result.settings == {"batch_size": 32, "pairs": 4, "positives": 2, "score": "cosine"}


def test_tied_scores_share_a_side_of_every_threshold() -> None:
    scores, labels = np.array([0.5, 0.2, 0.5], dtype=np.float32), np.array([1, 0, 0])
    cuts = cut_points(scores, labels)
    np.testing.assert_allclose(cuts.threshold, [0.35, 0.2])
    np.testing.assert_array_equal(cuts.predicted, [2, 3])
    np.testing.assert_array_equal(cuts.true_positives, [1, 1])
    assert best_f1(scores, labels) == pytest.approx((2 / 3, 0.5, 1.0, 0.35))
    # no cut beats predicting every pair 0 (2 of 3 right), so the threshold sits just above the top score
    accuracy, threshold = best_accuracy(scores, labels)
    assert accuracy == pytest.approx(2 / 3) and threshold == np.nextafter(np.float32(0.5), np.float32(1))


def test_both_labels_are_needed() -> None:
    model, left, right = at_cosine([0.1, 0.2])
    with pytest.raises(EmbedlabError, match="needs both labels 0 and 1"):
        evaluate_pairs(model, LabeledPairs(left, right, [1, 1]))


# Few distinct values, so ties are common; 0.3 and the next float32 up make a midpoint that rounds onto a score.
SCORES = st.lists(
    st.sampled_from([-0.5, 0.0, 0.1, 0.3, float(np.nextafter(np.float32(0.3), np.float32(1))), 0.7, 0.9, 1.0]),
    min_size=2,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), scores=SCORES)
def test_threshold_search_matches_the_reference_exactly(data: st.DataObject, scores: list[float]) -> None:
    labels = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(scores), max_size=len(scores))))
    scores = np.array(scores, dtype=np.float32)
    assert best_accuracy(scores, labels) == Reference.find_best_acc_and_threshold(scores, labels, True)
    assert best_f1(scores, labels) == Reference.find_best_f1_and_threshold(scores, labels, True)


@settings(max_examples=60, deadline=None)
@given(cosines=st.lists(st.floats(-1, 1), min_size=2, max_size=12), data=st.data())
def test_metrics_are_fractions_and_ap_is_sklearns(cosines: list[float], data: st.DataObject) -> None:
    labels = data.draw(
        st.lists(st.integers(0, 1), min_size=len(cosines), max_size=len(cosines)).filter(lambda ls: len(set(ls)) == 2)
    )
    model, left, right = at_cosine(cosines)
    m = evaluate_pairs(model, LabeledPairs(left, right, labels)).metrics
    scores = np.array([np.float32(c) for c in cosines])
    assert m["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-6)
    assert all(0 <= m[key] <= 1 for key in ("ap", "f1", "precision", "recall", "accuracy"))
    assert -1 <= m["f1_threshold"] <= 1 and m["accuracy_threshold"] <= np.nextafter(np.float32(1), np.float32(2))


PARAPHRASES = [
    ("The cat sat on the mat.", "A cat was sitting on the mat.", 1),
    ("He bought a new car yesterday.", "Yesterday he purchased a new car.", 1),
    ("The meeting was postponed until Friday.", "The meeting has been moved to Friday.", 1),
    ("Stocks fell sharply on Monday.", "Share prices dropped steeply on Monday.", 1),
    ("She plays the violin beautifully.", "She is a wonderful violin player.", 1),
    ("The company reported record profits.", "The firm announced its highest ever earnings.", 1),
    ("The cat sat on the mat.", "The stock market closed higher.", 0),
    ("He bought a new car yesterday.", "Rain is expected this weekend.", 0),
    ("The meeting was postponed until Friday.", "The meeting was held on Friday as planned.", 0),
    ("Stocks fell sharply on Monday.", "Stocks rose sharply on Tuesday.", 0),
    ("She plays the violin beautifully.", "He repairs old bicycles.", 0),
    ("The company reported record profits.", "The company reported heavy losses.", 0),
]


def test_minilm_agrees_with_binary_classification_evaluator(minilm, st_minilm) -> None:
    left, right, labels = map(list, zip(*PARAPHRASES))
    ours = evaluate_pairs(minilm, LabeledPairs(left, right, labels)).metrics
    reference = Reference(left, right, labels, similarity_fn_names=["cosine"])(st_minilm)
    for key in ("ap", "f1", "precision", "recall", "accuracy"):
        assert ours[key] == pytest.approx(reference[f"cosine_{key}"], abs=1e-6), key
    for key in ("f1_threshold", "accuracy_threshold"):
        assert ours[key] == pytest.approx(reference[f"cosine_{key}"], abs=1e-4), key
    assert ours["ap"] > 0.8
