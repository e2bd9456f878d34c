"""Clustering evaluation: separable groups are recovered exactly, subsamples are stratified, seeds fix results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.labeled import LabeledTexts
from embedlab.errors import EmbedlabError
from embedlab.evaluation.clustering import (
    ClusteringConfig,
    evaluate_clustering,
    stratified_sample,
)
from tests.fakes import DIRECTIONS, grouped


@pytest.mark.parametrize("linkage", ["ward", "average"])
def test_separable_groups_score_one(linkage: str) -> None:
    model, labels = grouped(DIRECTIONS, per_group=6, spread=0.05)
    data = LabeledTexts(list(model.table), labels, name="toy")
    result = evaluate_clustering(model, data, ClusteringConfig(linkage=linkage))
    assert (result.task, result.dataset, result.main_metric) == ("clustering", "toy", "v_measure")
    perfect = {"v_measure": 1, "ari": 1, "agglomerative_v_measure": 1, "agglomerative_ari": 1}
    assert result.metrics == pytest.approx(perfect)
    assert result.settings["n_clusters"] == 3 and result.settings["samples"] == 18


def test_clusters_by_direction_not_length() -> None:
    # Same directions at very different lengths: raw k-means would split by length, cosine geometry does not.
    model, labels = grouped(DIRECTIONS, per_group=6, spread=0.02)
    for i, text in enumerate(model.table):
        model.table[text] = model.table[text] * (1 + 20 * (i % 2))
    assert evaluate_clustering(model, LabeledTexts(list(model.table), labels)).main_score == pytest.approx(1)


def test_same_seed_same_result_on_overlapping_groups() -> None:
    model, labels = grouped([[1, 0], [0, 1], [-1, 0]], per_group=15, spread=0.8)
    data = LabeledTexts(list(model.table), labels)
    config = ClusteringConfig(seed=3, max_samples=30)
    first, second = evaluate_clustering(model, data, config), evaluate_clustering(model, data, config)
    assert first.metrics == second.metrics
    assert 0 <= first.metrics["v_measure"] <= 1 and -0.5 <= first.metrics["ari"] <= 1
    assert len(model.calls[-1]) == 30


def test_subsample_that_loses_all_but_one_class_is_an_error() -> None:
    model, labels = grouped(DIRECTIONS[:2], per_group=1, spread=0.0)
    model.table |= {f"extra{i}": np.array([1.0, 0.0, 0.0]) for i in range(40)}
    data = LabeledTexts(list(model.table), labels + ["group 0"] * 40)
    with pytest.raises(EmbedlabError, match="holds only one class; raise max_samples"):
        evaluate_clustering(model, data, ClusteringConfig(max_samples=2))


def test_config_and_class_count_are_checked() -> None:
    with pytest.raises(EmbedlabError, match="linkage must be one of ward, average"):
        ClusteringConfig(linkage="single")
    with pytest.raises(EmbedlabError, match="max_samples must be >= 2"):
        ClusteringConfig(max_samples=1)
    model, labels = grouped(DIRECTIONS[:1], per_group=3, spread=0.1)
    with pytest.raises(EmbedlabError, match="clustering needs at least 2 classes"):
        evaluate_clustering(model, LabeledTexts(list(model.table), labels))


@settings(max_examples=100, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=60), data=st.data())
def test_stratified_sample_keeps_class_shares(labels: list[int], data: st.DataObject) -> None:
    labels = np.array(labels)
    size = data.draw(st.integers(1, len(labels)))
    rows = stratified_sample(labels, size, seed=data.draw(st.integers(0, 2**32 - 1)))
    assert len(rows) == size and np.all(np.diff(rows) > 0)
    for label in np.unique(labels):
        share = (labels == label).sum() * size / len(labels)
        assert abs((labels[rows] == label).sum() - share) < 1


def test_minilm_separates_clear_topics(minilm) -> None:
    topics = {
        "cooking": [
            "Chop the onions and fry them in butter.",
            "Bake the bread for forty minutes.",
            "Season the soup with salt and pepper.",
            "Whisk the eggs before adding flour.",
        ],
        "football": [
            "The striker scored a goal in the final minute.",
            "The goalkeeper saved a penalty.",
            "The team won the league championship.",
            "The referee showed him a red card.",
        ],
        "computers": [
            "Restart the laptop to install the update.",
            "The program crashed with a memory error.",
            "Install the driver for the new graphics card.",
            "The keyboard stopped working.",
        ],
    }
    data = LabeledTexts([t for texts in topics.values() for t in texts], [k for k, v in topics.items() for _ in v])
    assert evaluate_clustering(minilm, data).main_score > 0.8
