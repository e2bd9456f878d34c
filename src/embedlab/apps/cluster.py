"""Clustering texts by meaning (k-means, agglomerative, community detection), named by central texts and keywords.

For browsing a corpus by topic: no labels here (unlike evaluation/clustering.py), so k may be chosen by silhouette.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from embedlab.apps.dedup import unit_vectors
from embedlab.atomic import atomic_path, write_text
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError

METHODS = ("kmeans", "agglomerative", "community")
# Cosine similarities: agglomerative merges clusters closer than 1 - threshold (average linkage); community
# detection's 0.75 is sentence-transformers' default.
DEFAULT_THRESHOLDS = {"agglomerative": 0.5, "community": 0.75}
PROJECTIONS = ("pca", "umap")
ASSIGNMENT_SUFFIXES = (".jsonl", ".csv")
NO_CLUSTER = -1
# Agglomerative clustering holds all n^2 / 2 distances in memory.
MAX_AGGLOMERATIVE = 20_000


@dataclass(frozen=True)
class ClusterConfig:
    """The method and its settings: k (None: the best silhouette over k_range), a cosine threshold, community size.

    threshold None takes the method's default; k-means ignores it, the others ignore k.
    """

    method: str = "kmeans"
    k: int | None = None
    k_range: tuple[int, int] = (2, 10)
    threshold: float | None = None
    min_community_size: int = 3
    n_central: int = 3
    n_keywords: int = 5
    seed: int = 0
    batch_size: int = 32
    chunk_size: int = 1024
    # Silhouette costs n^2; scoring a sample keeps choosing k affordable on large inputs.
    silhouette_samples: int = 5000

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EmbedlabError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.k is not None and self.k < 1:
            raise EmbedlabError(f"k must be >= 1, got {self.k}")
        if not 2 <= self.k_range[0] <= self.k_range[1]:
            raise EmbedlabError(f"k_range must be (low, high) with 2 <= low <= high, got {self.k_range}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise EmbedlabError(f"threshold must be a cosine between -1 and 1, got {self.threshold}")
        settings = (self.min_community_size, self.n_central, self.batch_size, self.chunk_size, self.silhouette_samples)
        if min(settings) < 1 or self.n_keywords < 0:
            raise EmbedlabError("min_community_size, n_central, batch_size, chunk_size and silhouette_samples must "
                                f"be >= 1 and n_keywords >= 0, got {self}")

    @property
    def cosine_threshold(self) -> float:
        return DEFAULT_THRESHOLDS.get(self.method, 0.0) if self.threshold is None else self.threshold


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster: its id, size, most central texts (closest to the centroid first) and top keywords."""

    cluster: int
    size: int
    central: list[str]
    keywords: list[str]


@dataclass
class ClusterResult:
    """Each text's cluster (NO_CLUSTER for texts community detection leaves out), summaries largest first, details.

    Cluster ids run 0, 1, ... by size, largest first; `embeddings` are the unit vectors clustered, for plotting.
    """

    labels: np.ndarray
    clusters: list[ClusterSummary]
    details: dict
    embeddings: np.ndarray = field(repr=False)


def community_detection(
    embeddings: Any, threshold: float = 0.75, min_size: int = 3, chunk_size: int = 1024
) -> list[list[int]]:
    """Non-overlapping groups of >= min_size rows, each a centre row first and then its rows at cosine >= threshold.

    As in sentence-transformers: every row with min_size rows (itself included) at cosine >= threshold proposes
    them, most similar first; proposals are taken greedily, largest first, skipping taken centres and rows. Two
    chunked passes (count, then collect) keep memory at chunk_size x n scores.
    """
    vectors = unit_vectors(embeddings)
    n = len(vectors)
    chunks = range(0, n, chunk_size)
    counts = np.concatenate([(vectors[s : s + chunk_size] @ vectors.T >= threshold).sum(axis=1) for s in chunks])
    centres = np.flatnonzero(counts >= min_size)
    centres = centres[np.argsort(-counts[centres], kind="stable")]
    taken = np.zeros(n, dtype=bool)
    communities = []
    for start in range(0, len(centres), chunk_size):
        batch = centres[start : start + chunk_size]
        for centre, scores in zip(batch, vectors[batch] @ vectors.T):
            if taken[centre]:
                continue
            scores[centre] = np.inf  # the centre leads its community even among exact duplicates
            members = np.flatnonzero(scores >= threshold)
            members = members[np.argsort(-scores[members], kind="stable")]
            members = members[~taken[members]]
            if len(members) >= min_size:
                taken[members] = True
                communities.append(members.tolist())
    return sorted(communities, key=len, reverse=True)


def choose_k(points: np.ndarray, k_range: tuple[int, int], seed: int = 0, samples: int = 5000) -> dict[int, float]:
    """Silhouette (cosine) of k-means for each k in k_range that the data allows (2 <= k < n)."""
    ks = range(k_range[0], min(k_range[1], len(points) - 1) + 1)
    if not ks:
        raise EmbedlabError(f"choosing k needs more than {k_range[0]} texts; give k instead")
    return {
        k: float(silhouette_score(points, kmeans(points, k, seed), metric="cosine",
                                  sample_size=min(samples, len(points)), random_state=seed))
        for k in ks
    }


def kmeans(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    return KMeans(k, n_init=10, random_state=seed).fit_predict(points)


def assign_clusters(points: np.ndarray, config: ClusterConfig) -> tuple[np.ndarray, dict]:
    """Cluster labels (ids by size, largest 0; NO_CLUSTER for left-out rows) of unit vectors, and how they came."""
    n = len(points)
    details: dict[str, Any] = {"method": config.method}
    if config.method == "kmeans":
        k = config.k
        if k is None:
            silhouettes = choose_k(points, config.k_range, config.seed, config.silhouette_samples)
            details["silhouette"], k = silhouettes, max(silhouettes, key=silhouettes.get)
        if k > n:
            raise EmbedlabError(f"k = {k} clusters but only {n} texts")
        details["k"] = k
        labels = kmeans(points, k, config.seed)
    elif config.method == "agglomerative":
        if n > MAX_AGGLOMERATIVE:
            raise EmbedlabError(f"agglomerative clustering of {n} texts needs too much memory (at most "
                                f"{MAX_AGGLOMERATIVE}); use kmeans or community")
        details["threshold"] = config.cosine_threshold
        labels = AgglomerativeClustering(
            None, metric="cosine", linkage="average", distance_threshold=1.0 - config.cosine_threshold
        ).fit_predict(points)
    else:
        details["threshold"] = config.cosine_threshold
        labels = np.full(n, NO_CLUSTER)
        for number, members in enumerate(
            community_detection(points, config.cosine_threshold, config.min_community_size, config.chunk_size)
        ):
            labels[members] = number
    return by_size(labels), details


def by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... from the largest (ties: first to appear); NO_CLUSTER stays."""
    ids, first, sizes = np.unique(labels[labels != NO_CLUSTER], return_index=True, return_counts=True)
    order = np.lexsort((first, -sizes))
    mapping = dict(zip(ids[order].tolist(), range(len(ids))))
    return np.array([mapping.get(label, NO_CLUSTER) for label in labels.tolist()], dtype=np.int64)


def cluster_keywords(documents: list[str], n: int) -> list[list[str]]:
    """Top-n c-TF-IDF terms of each document, where a document is all of one cluster's texts (as in BERTopic).

    A term ranks high when frequent in its cluster and rare in the others; English stop words are dropped.
    """
    vectorizer = CountVectorizer(stop_words="english")
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError:  # nothing but stop words and one-letter tokens: no vocabulary to rank
        return [[] for _ in documents]
    average_words = counts.sum() / len(documents)
    idf = np.log(1.0 + average_words / np.asarray(counts.sum(axis=0)).ravel())
    scores = normalize(counts.astype(np.float64), norm="l1").multiply(idf).tocsr()
    terms = vectorizer.get_feature_names_out()
    keywords = []
    for row in scores:
        # Vocabulary columns are alphabetical, so equal scores go to the earlier term.
        best = np.lexsort((row.indices, -row.data))[:n]
        keywords.append([str(terms[column]) for column in row.indices[best]])
    return keywords


def summarise(texts: list[str], points: np.ndarray, labels: np.ndarray, config: ClusterConfig) -> list[ClusterSummary]:
    """A summary of every cluster, in id order: size, texts nearest its centroid and c-TF-IDF keywords."""
    members = [np.flatnonzero(labels == cluster) for cluster in range(int(labels.max()) + 1)]
    keywords = cluster_keywords([" ".join(texts[i] for i in rows) for rows in members], config.n_keywords)
    summaries = []
    for cluster, rows in enumerate(members):
        centroid = points[rows].mean(axis=0)
        central = rows[np.argsort(-(points[rows] @ centroid), kind="stable")[: config.n_central]]
        summaries.append(ClusterSummary(cluster, len(rows), [texts[i] for i in central], keywords[cluster]))
    return summaries


def cluster_texts(
    encoder: Embedder, texts: list[str], config: ClusterConfig = ClusterConfig(), show_progress: bool | None = None
) -> ClusterResult:
    """Embed and cluster texts; each cluster gets its central texts and keywords."""
    if len(texts) < 2:
        raise EmbedlabError(f"clustering needs at least 2 texts, got {len(texts)}")
    points = unit_vectors(encoder.encode(list(texts), batch_size=config.batch_size, show_progress=show_progress))
    labels, details = assign_clusters(points, config)
    details.update(texts=len(texts), clusters=int(labels.max()) + 1, unassigned=int((labels == NO_CLUSTER).sum()))
    details["model"] = encoder.name
    return ClusterResult(labels, summarise(list(texts), points, labels, config), details, points)


def check_assignments_path(path: str | os.PathLike) -> Path:
    """The path if it names a format write_assignments knows; checked before minutes of encoding, not after."""
    path = Path(path)
    if path.suffix not in ASSIGNMENT_SUFFIXES:
        raise EmbedlabError(f"assignments go to a {' or '.join(ASSIGNMENT_SUFFIXES)} file, not {path.name}")
    return path


def write_assignments(path: str | os.PathLike, texts: list[str], labels: np.ndarray) -> Path:
    """One row per text (row, cluster, text) as jsonl or csv, chosen by the file name."""
    path = check_assignments_path(path)
    rows = [{"row": i, "cluster": int(label), "text": text} for i, (text, label) in enumerate(zip(texts, labels))]
    if path.suffix == ".jsonl":
        return write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["row", "cluster", "text"])
    writer.writeheader()
    writer.writerows(rows)
    return write_text(buffer.getvalue(), path)


def check_plot_options(path: str | os.PathLike | None, projection: str) -> Path | None:
    """The map's path if it is a .png and the projection is known and installed; checked before encoding."""
    if projection not in PROJECTIONS:
        raise EmbedlabError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    if projection == "umap" and importlib.util.find_spec("umap") is None:
        raise EmbedlabError("the umap projection needs `pip install umap-learn`; or use pca")
    if path is not None and Path(path).suffix != ".png":
        raise EmbedlabError(f"the map is a PNG; give a .png name, not {Path(path).name}")
    return None if path is None else Path(path)


def project_2d(points: np.ndarray, projection: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 2) map coordinates: PCA, or UMAP (cosine) when the optional `umap-learn` package is installed."""
    check_plot_options(None, projection)
    if projection == "umap":
        import umap

        return umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(points)
    from sklearn.decomposition import PCA

    components = min(2, *points.shape)
    coords = PCA(components, random_state=seed).fit_transform(points)
    return np.pad(coords, ((0, 0), (0, 2 - components)))  # 1-D embeddings get a zero second axis


def plot_clusters(
    path: str | os.PathLike, points: np.ndarray, labels: np.ndarray, projection: str = "pca", title: str = ""
) -> Path:
    """A 2-D map PNG of the texts coloured by cluster, each cluster's id at its centre; left-out texts in grey."""
    from matplotlib.figure import Figure  # only plotting pays for matplotlib's import

    path = check_plot_options(path, projection)
    coords = project_2d(points, projection)
    # A Figure, not pyplot: no global backend state, so this is safe in servers and threads (Agg renders it).
    fig = Figure(figsize=(7.5, 6.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set(title=title or f"{labels.max() + 1} clusters of {len(labels)} texts ({projection.upper()})",
           xlabel=f"{projection.upper()} 1", ylabel=f"{projection.upper()} 2")
    left_out = labels == NO_CLUSTER
    if left_out.any():
        ax.scatter(*coords[left_out].T, s=5, color="lightgrey", label="no cluster")
        ax.legend(loc="upper right")
    ax.scatter(*coords[~left_out].T, s=6, c=labels[~left_out], cmap="tab20", alpha=0.8)
    for cluster in range(int(labels.max()) + 1):
        ax.annotate(str(cluster), coords[labels == cluster].mean(axis=0), weight="bold", ha="center")
    with atomic_path(path) as partial:
        fig.savefig(partial, format="png", dpi=110)  # the partial name has no .png to infer the format from
    return path
