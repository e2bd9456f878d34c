"""Clustering texts: the three methods on planted groups, community detection by hand, keywords, files, maps."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.apps.cluster import (
    NO_CLUSTER,
    ClusterConfig,
    by_size,
    cluster_keywords,
    cluster_texts,
    community_detection,
    plot_clusters,
    project_2d,
    write_assignments,
)
from embedlab.apps.dedup import unit_vectors
from embedlab.errors import EmbedlabError
from tests.fakes import DIRECTIONS, LookupEncoder, grouped

# Three topics of four texts, each placed near its own direction, plus one text far from all of them.
TOPICS = {
    "pets": ["my cat sleeps all day", "the dog chased a cat", "a cat and a dog play", "cats purr when happy"],
    "stocks": ["stock prices fell today", "investors sold stock", "markets and stock prices rose", "stock trading"],
    "rain": ["heavy rain tomorrow", "rain and wind expected", "the rain will stop soon", "umbrellas for the rain"],
}
TEXTS = [text for texts in TOPICS.values() for text in texts]
OUTLIER = "quantum chromodynamics lecture"


def topic_encoder(spread: float = 0.05, seed: int = 0) -> LookupEncoder:
    rng = np.random.default_rng(seed)
    table = {
        text: np.asarray(DIRECTIONS[topic] + [0.0]) + spread * rng.standard_normal(4)
        for topic, texts in enumerate(TOPICS.values())
        for text in texts
    }
    table[OUTLIER] = [0.0, 0.0, 0.0, 1.0]
    return LookupEncoder(table)


def topic_of(labels: np.ndarray) -> list[set[int]]:
    return [set(labels[i * 4 : i * 4 + 4].tolist()) for i in range(3)]


@pytest.mark.parametrize(
    "config",
    [
        ClusterConfig(method="kmeans", k=3),
        ClusterConfig(method="kmeans", k_range=(2, 6)),
        ClusterConfig(method="agglomerative", threshold=0.7),
        ClusterConfig(method="community", threshold=0.8, min_community_size=3),
    ],
)
def test_every_method_recovers_the_topics(config):
    result = cluster_texts(topic_encoder(), TEXTS, config)
    groups = topic_of(result.labels)
    assert all(len(group) == 1 for group in groups) and len(set.union(*groups)) == 3
    assert [c.size for c in result.clusters] == [4, 4, 4] and result.details["clusters"] == 3
    if config.k is None and config.method == "kmeans":
        silhouette = result.details["silhouette"]
        assert result.details["k"] == 3 == max(silhouette, key=silhouette.get) and sorted(silhouette) == [2, 3, 4, 5, 6]


def test_summaries_name_keywords_and_central_texts():
    result = cluster_texts(topic_encoder(), TEXTS, ClusterConfig(method="kmeans", k=3, n_keywords=2, n_central=2))
    by_topic = {summary.keywords[0]: summary for summary in result.clusters}
    assert set(by_topic) == {"cat", "stock", "rain"}
    assert by_topic["stock"].keywords == ["stock", "prices"]
    assert len(by_topic["rain"].central) == 2 and set(by_topic["rain"].central) <= set(TOPICS["rain"])


def test_community_detection_by_hand():
    # Rows 0-2 point one way, 3-4 another, 5 alone; row 6 sits between the first two groups.
    vectors = [[1, 0], [0.99, 0.1], [0.99, -0.1], [0, 1], [0.1, 0.99], [-1, 0], [0.75, 0.66]]
    assert community_detection(vectors, threshold=0.9, min_size=2) == [[0, 1, 2], [3, 4]]
    assert community_detection(vectors, threshold=0.9, min_size=3) == [[0, 1, 2]]
    # At 0.6, row 6 (between the groups) reaches every row but 5: its proposal is largest, so it takes them all.
    assert community_detection(vectors, threshold=0.6, min_size=2, chunk_size=2) == [[6, 1, 0, 4, 2, 3]]


def test_community_centre_leads_even_among_exact_copies():
    assert community_detection([[1, 0]] * 3 + [[0, 1]], threshold=0.9, min_size=2) == [[0, 1, 2]]


def test_community_detection_matches_sentence_transformers():
    util = pytest.importorskip("sentence_transformers.util")
    encoder, _ = grouped([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], per_group=15, spread=0.25, seed=3)
    vectors = unit_vectors(list(encoder.table.values()))
    ours = community_detection(vectors, threshold=0.7, min_size=5, chunk_size=16)
    theirs = util.community_detection(vectors, threshold=0.7, min_community_size=5, batch_size=16)
    assert [sorted(c) for c in ours] == [sorted(c) for c in theirs] and [c[0] for c in ours] == [c[0] for c in theirs]


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 40), st.floats(0.3, 0.95), st.integers(1, 5), st.integers(1, 16), st.integers(0, 10**6))
def test_communities_are_disjoint_and_within_threshold_of_their_centre(n, threshold, min_size, chunk_size, seed):
    vectors = unit_vectors(np.random.default_rng(seed).standard_normal((n, 3)))
    communities = community_detection(vectors, threshold, min_size, chunk_size)
    rows = [row for community in communities for row in community]
    assert len(rows) == len(set(rows)) and all(len(c) >= min_size for c in communities)
    assert [len(c) for c in communities] == sorted((len(c) for c in communities), reverse=True)
    for community in communities:
        assert (vectors[community] @ vectors[community[0]] >= threshold - 1e-6).all()


def test_community_method_leaves_outliers_unassigned():
    result = cluster_texts(topic_encoder(), TEXTS + [OUTLIER], ClusterConfig(method="community", threshold=0.8))
    assert result.labels[-1] == NO_CLUSTER and result.details["unassigned"] == 1


def test_by_size_numbers_largest_first():
    assert by_size(np.array([5, 2, 2, -1, 5, 5, 7])).tolist() == [0, 1, 1, -1, 0, 0, 2]


def test_keywords_ignore_stop_words_and_survive_empty_vocabulary():
    assert cluster_keywords(["the the and of", "a an"], 3) == [[], []]
    keywords = cluster_keywords(["apple banana", "banana cherry", "Banana date"], 2)
    # Each cluster has its fruit once and banana once, but banana is in every cluster, so it ranks second.
    assert keywords == [["apple", "banana"], ["cherry", "banana"], ["date", "banana"]]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "dbscan"}, "method must be one of"),
        ({"k": 0}, "k must be >= 1"),
        ({"k_range": (1, 4)}, "k_range must be"),
        ({"threshold": -2.0}, "threshold must be a cosine"),
        ({"min_community_size": 0}, "must be >= 1"),
    ],
)
def test_bad_settings_fail_in_one_line(options, message):
    with pytest.raises(EmbedlabError, match=message):
        ClusterConfig(**options)


def test_too_few_texts_or_too_large_k_fail():
    with pytest.raises(EmbedlabError, match="at least 2 texts"):
        cluster_texts(topic_encoder(), TEXTS[:1])
    with pytest.raises(EmbedlabError, match="k = 20 clusters but only 12 texts"):
        cluster_texts(topic_encoder(), TEXTS, ClusterConfig(k=20))
    with pytest.raises(EmbedlabError, match="choosing k needs more than 2 texts"):
        cluster_texts(topic_encoder(), TEXTS[:2])


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_assignments_files(tmp_path, suffix):
    path = write_assignments(tmp_path / f"a{suffix}", ['x, "quoted"', "ü"], np.array([1, NO_CLUSTER]))
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = [{**row, "row": int(row["row"]), "cluster": int(row["cluster"])} for row in csv.DictReader(path.open())]
    assert rows == [{"row": 0, "cluster": 1, "text": 'x, "quoted"'}, {"row": 1, "cluster": -1, "text": "ü"}]
    with pytest.raises(EmbedlabError, match="not a.txt"):
        write_assignments(tmp_path / "a.txt", ["x"], np.array([0]))


def test_map_png_and_projection_options(tmp_path):
    result = cluster_texts(topic_encoder(), TEXTS + [OUTLIER], ClusterConfig(method="community", threshold=0.8))
    path = plot_clusters(tmp_path / "map.png", result.embeddings, result.labels)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert project_2d(np.array([[1.0], [2.0], [4.0]])).shape == (3, 2)
    with pytest.raises(EmbedlabError, match="give a .png name"):
        plot_clusters(tmp_path / "map.jpg", result.embeddings, result.labels)
    with pytest.raises(EmbedlabError, match="projection must be one of pca, umap"):
        project_2d(result.embeddings, "tsne")
