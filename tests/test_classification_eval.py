"""Classification probe: separable labels score 1, label noise scores near chance, folds are checked up front."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.labeled import LabeledTexts
from embedlab.errors import EmbedlabError
from embedlab.evaluation.classification import (
    ClassificationConfig,
    evaluate_classification,
)
from tests.fakes import DIRECTIONS, grouped


def test_separable_classes_score_one_in_every_fold() -> None:
    model, labels = grouped(DIRECTIONS, per_group=10, spread=0.05)
    result = evaluate_classification(model, LabeledTexts(list(model.table), labels, name="toy"))
    assert (result.task, result.dataset, result.main_metric) == ("classification", "toy", "accuracy")
    assert result.metrics == {"accuracy": 1.0, "f1": 1.0, "accuracy_std": 0.0}
    assert result.settings == {
        "folds": 5,
        "seed": 0,
        "c": 1.0,
        "max_iter": 1000,
        "batch_size": 32,
        "texts": 30,
        "classes": 3,
        "converged": True,
    }
    assert len(model.calls) == 1  # encoded once, not once per fold


def test_labels_unrelated_to_embeddings_score_near_chance() -> None:
    model, _ = grouped([[0.0] * 8], per_group=200, spread=1.0)
    labels = list(np.random.default_rng(1).integers(0, 2, size=200))
    metrics = evaluate_classification(model, LabeledTexts(list(model.table), [int(y) for y in labels])).metrics
    assert 0.3 < metrics["accuracy"] < 0.7 and metrics["accuracy_std"] > 0


def test_too_small_classes_are_errors_not_silently_fewer_folds() -> None:
    model, labels = grouped(DIRECTIONS, per_group=3, spread=0.05)
    data = LabeledTexts(list(model.table), labels)
    with pytest.raises(EmbedlabError, match=r"class 'group 0' has 3 texts, fewer than the 5 folds; lower folds to 3"):
        evaluate_classification(model, data)
    assert evaluate_classification(model, data, ClassificationConfig(folds=3)).main_score == 1.0
    singleton = LabeledTexts(list(model.table)[:4], ["a", "a", "a", "b"])
    with pytest.raises(EmbedlabError, match="every class needs at least 2 texts"):
        evaluate_classification(model, singleton, ClassificationConfig(folds=2))
    with pytest.raises(EmbedlabError, match="folds must be >= 2"):
        ClassificationConfig(folds=1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), spread=st.floats(0.1, 2.0), folds=st.integers(2, 5))
def test_fractions_and_determinism(seed: int, spread: float, folds: int) -> None:
    model, labels = grouped(DIRECTIONS, per_group=6, spread=spread, seed=seed)
    data = LabeledTexts(list(model.table), labels)
    config = ClassificationConfig(folds=folds, seed=seed)
    result = evaluate_classification(model, data, config)
    assert result.metrics == evaluate_classification(model, data, config).metrics
    assert all(0 <= value <= 1 for value in result.metrics.values())


def test_minilm_probe_learns_sentiment(minilm) -> None:
    positive = [
        "I loved this film.",
        "What a wonderful day!",
        "The food was delicious.",
        "Great service, very happy.",
        "An excellent, moving story.",
        "This is the best book I have read.",
    ]
    negative = [
        "I hated this film.",
        "What an awful day.",
        "The food was disgusting.",
        "Terrible service, very angry.",
        "A dull and boring story.",
        "This is the worst book I have read.",
    ]
    data = LabeledTexts(positive + negative, ["pos"] * 6 + ["neg"] * 6)
    assert evaluate_classification(minilm, data, ClassificationConfig(folds=3)).main_score >= 0.75
