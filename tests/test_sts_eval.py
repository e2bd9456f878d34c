"""STS evaluation: hand-worked correlations on a lookup-table model, properties, and the published STS-B figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import spearmanr

from embedlab.data.labeled import ScoredPairs
from embedlab.errors import EmbedlabError
from embedlab.evaluation.sts import encode_sentence_pairs, evaluate_sts
from tests.conftest import real_data
from tests.fakes import LookupEncoder

# Three pairs sharing sentence "x": cosines 1, 0, -1; dots 2, 0, -1; distances 1, sqrt(10), 2 (manhattan 1, 4, 2).
HAND = LookupEncoder({"x": [1, 0], "same way": [2, 0], "sideways": [0, 3], "opposite": [-1, 0]})
HAND_PAIRS = ScoredPairs(["x", "x", "x"], ["same way", "sideways", "opposite"], [4.0, 2.0, 0.0], name="hand")


def test_hand_worked_correlations() -> None:
    result = evaluate_sts(HAND, HAND_PAIRS)
    m = result.metrics
    assert (result.task, result.dataset, result.model, result.main_metric) == ("sts", "hand", "lookup", "spearman")
    assert m["spearman"] == pytest.approx(1.0) and m["pearson"] == pytest.approx(1.0)
    assert m["dot_spearman"] == pytest.approx(1.0)
    # dots [2, 0, -1] against gold [4, 2, 0]: covariance 6, variances 42/9 and 8 (sums of squared deviations)
    assert m["dot_pearson"] == pytest.approx(6 / math.sqrt(42 / 9 * 8))
    # negated distances rank the pairs 1st, 3rd, 2nd where gold ranks them 1st, 2nd, 3rd: rho = 1 - 6*2/(3*8)
    assert m["euclidean_spearman"] == pytest.approx(0.5) and m["manhattan_spearman"] == pytest.approx(0.5)
    assert set(m) == {f"{p}{c}" for p in ("", "dot_", "euclidean_", "manhattan_") for c in ("spearman", "pearson")}


def test_each_distinct_sentence_is_encoded_once() -> None:
    model = LookupEncoder({"x": [1, 0], "same way": [2, 0], "sideways": [0, 3], "opposite": [-1, 0]})
    a, b = encode_sentence_pairs(model, ["x", "x", "sideways"], ["same way", "x", "x"])
    assert model.calls == [["x", "sideways", "same way"]]
    np.testing.assert_array_equal(a, [[1, 0], [1, 0], [0, 3]])
    np.testing.assert_array_equal(b, [[2, 0], [1, 0], [1, 0]])


def test_reads_paths_and_saves_json(tmp_path: Path) -> None:
    path = tmp_path / "hand" / "test.jsonl"
    path.parent.mkdir()
    rows = zip(HAND_PAIRS.sentence1, HAND_PAIRS.sentence2, HAND_PAIRS.score)
    path.write_text("".join(json.dumps({"sentence1": a, "sentence2": b, "score": s}) + "\n" for a, b, s in rows))
    result = evaluate_sts(HAND, path, batch_size=4)
    assert result.dataset == "hand/test"
    assert result.metrics == evaluate_sts(HAND, HAND_PAIRS).metrics
    assert result.settings == {"batch_size": 4, "pairs": 3, "score_range": [0.0, 4.0]}
    assert json.loads(result.save_json(tmp_path / "r.json").read_text())["metrics"]["spearman"] == pytest.approx(1.0)


def test_unusable_gold_is_an_error_and_a_constant_model_gets_nan() -> None:
    with pytest.raises(EmbedlabError, match="at least 2 pairs with differing gold scores"):
        evaluate_sts(HAND, ScoredPairs(["x", "x"], ["sideways", "opposite"], [3.0, 3.0]))
    with pytest.raises(EmbedlabError, match="at least 2 pairs"):
        evaluate_sts(HAND, ScoredPairs(["x"], ["sideways"], [3.0]))
    constant = LookupEncoder({"x": [1, 0], "y": [1, 0], "z": [1, 0]})
    metrics = evaluate_sts(constant, ScoredPairs(["x", "x"], ["y", "z"], [1.0, 2.0])).metrics
    assert all(math.isnan(value) for value in metrics.values())


VECTORS = arrays(np.float32, (6, 3), elements=st.floats(-4, 4, width=32)).filter(
    lambda v: np.all(np.linalg.norm(v, axis=1) > 0.1)
)
# STS-B style grades (steps of 0.2) so that rescaling cannot merge two distinct grades by rounding
GOLD = st.lists(st.integers(0, 25).map(lambda k: k / 5), min_size=3, max_size=3).filter(lambda g: len(set(g)) > 1)


@settings(max_examples=60, deadline=None)
@given(vectors=VECTORS, gold=GOLD)
def test_symmetric_in_the_pair_and_blind_to_monotone_rescaling_of_gold(vectors: np.ndarray, gold: list[float]) -> None:
    model = LookupEncoder({str(i): v for i, v in enumerate(vectors)})
    left, right = ["0", "1", "2"], ["3", "4", "5"]
    result = evaluate_sts(model, ScoredPairs(left, right, gold))
    swapped = evaluate_sts(model, ScoredPairs(right, left, gold))
    rescaled = evaluate_sts(model, ScoredPairs(left, right, [g * 2 + 1 for g in gold]))
    np.testing.assert_allclose(list(result.metrics.values()), list(swapped.metrics.values()), atol=1e-6)
    np.testing.assert_allclose(list(result.metrics.values()), list(rescaled.metrics.values()), atol=1e-6)
    cosines = [
        float(np.dot(vectors[i], vectors[i + 3]) / np.linalg.norm(vectors[i]) / np.linalg.norm(vectors[i + 3]))
        for i in range(3)
    ]
    if len(set(np.round(cosines, 5))) == 3:  # well clear of float ties, scipy on float64 must agree
        assert result.main_score == pytest.approx(spearmanr(gold, cosines)[0], abs=1e-6)


INLINE_STS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "Someone is cutting an onion.", 4.2),
    ("A dog runs across the field.", "A dog is running on the grass.", 3.8),
    ("The cat sleeps on the sofa.", "A cat is sleeping on a couch.", 4.6),
    ("Two children are swimming.", "Kids are playing in a pool.", 3.0),
    ("A man is driving a car.", "A man is riding a horse.", 1.6),
    ("The stock market fell today.", "A woman is cooking pasta.", 0.0),
    ("A plane is taking off.", "A bird is flying over the sea.", 1.0),
    ("Prices of oil rose sharply.", "The oil price increased a lot.", 4.4),
    ("He is reading a newspaper.", "The child is eating an apple.", 0.2),
]


def test_minilm_ranks_inline_pairs_like_people_do(minilm) -> None:
    pairs = ScoredPairs(*map(list, zip(*INLINE_STS)), name="inline")
    assert evaluate_sts(minilm, pairs).main_score > 0.5


def test_minilm_reproduces_the_published_stsb_test_spearman(minilm) -> None:
    result = evaluate_sts(minilm, real_data("sts", "stsb", "test.jsonl"), batch_size=64)
    assert result.main_score == pytest.approx(0.8203, abs=0.005)
