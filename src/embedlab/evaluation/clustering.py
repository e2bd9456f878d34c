"""Clustering: whether unsupervised clusters of the embeddings recover the texts' labels.

k-means (the MTEB-style main score) and agglomerative clustering both run on unit-length embeddings,
because cosine is the geometry sentence embeddings are trained for.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import adjusted_rand_score, v_measure_score

from embedlab.data.labeled import LabeledTexts, read_labeled_texts
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.instructions import encode_for_task, task_setting
from embedlab.similarity import unit_rows

LINKAGES = ("ward", "average")


@dataclass(frozen=True)
class ClusteringConfig:
    """k-means restarts, agglomerative linkage ("ward", or "average" over cosine distance), subsample size, seed.

    `max_samples` bounds the quadratic cost of agglomerative clustering; the seed fixes subsample and k-means.
    """

    n_init: int = 10
    linkage: str = "ward"
    max_samples: int | None = None
    seed: int = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.linkage not in LINKAGES:
            raise EmbedlabError(f"linkage must be one of {', '.join(LINKAGES)}, got {self.linkage!r}")
        if self.n_init < 1 or self.batch_size < 1:
            raise EmbedlabError(f"n_init and batch_size must be >= 1, got {self.n_init} and {self.batch_size}")
        if self.max_samples is not None and self.max_samples < 2:
            raise EmbedlabError(f"max_samples must be >= 2 or None, got {self.max_samples}")


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` rows in the label proportions of `labels` (each count within 1 of its share).

    Shuffles, groups by label, then takes evenly spaced positions: systematic sampling of a grouped list
    is proportional per class without rounding quotas by hand.
    """
    if size >= len(labels):
        return np.arange(len(labels))
    order = np.random.default_rng(seed).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    return np.sort(order[np.arange(size) * len(labels) // size])


def evaluate_clustering(
    model: Embedder,
    data: str | os.PathLike | LabeledTexts,
    config: ClusteringConfig = ClusteringConfig(),
    task: str | None = None,
) -> EvalResult:
    """V-measure (main `v_measure`) and `ari` of k-means with k = number of labels; `agglomerative_*` likewise.
    A `task` is the instruction an instruction-tuned model reads before every text.

    Two algorithms, so a score reflects the embeddings rather than one algorithm's luck; a seed fixes both.
    """
    texts = data if isinstance(data, LabeledTexts) else read_labeled_texts(data)
    labels = texts.label_ids("clustering")
    rows = stratified_sample(labels, config.max_samples or len(labels), config.seed)
    labels = labels[rows]
    n_clusters = len(np.unique(labels))
    if n_clusters < 2:
        raise EmbedlabError(f"{texts.name}: the sample of {len(rows)} rows holds only one class; raise max_samples")
    embeddings = np.asarray(encode_for_task(model, [texts.text[i] for i in rows], task, batch_size=config.batch_size))
    points = unit_rows(embeddings.astype(np.float64))
    kmeans = KMeans(n_clusters, n_init=config.n_init, random_state=config.seed).fit_predict(points)
    metric = "euclidean" if config.linkage == "ward" else "cosine"
    agglomerative = AgglomerativeClustering(n_clusters, linkage=config.linkage, metric=metric).fit_predict(points)
    metrics = {
        "v_measure": float(v_measure_score(labels, kmeans)),
        "ari": float(adjusted_rand_score(labels, kmeans)),
        "agglomerative_v_measure": float(v_measure_score(labels, agglomerative)),
        "agglomerative_ari": float(adjusted_rand_score(labels, agglomerative)),
    }
    settings = {**asdict(config), "samples": len(rows), "n_clusters": n_clusters, "normalized": True}
    settings |= task_setting(task)
    return EvalResult("clustering", texts.name, model.name, metrics, "v_measure", settings)
