"""Ranking metrics (nDCG, MRR, Recall, MAP, P at cutoffs) with trec_eval's exact semantics, in numpy.

Our own code so results need no C extension, yet they match pytrec_eval to 1e-6 (the tests check this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedlab.errors import EmbedlabError

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Cutoffs:
    """The depths each metric is reported at; the defaults are BEIR's/MTEB's headline set."""

    ndcg: tuple[int, ...] = (1, 3, 5, 10, 100)
    mrr: tuple[int, ...] = (10,)
    recall: tuple[int, ...] = (1, 5, 10, 100)
    map: tuple[int, ...] = (10, 100)
    precision: tuple[int, ...] = (10,)

    def __post_init__(self) -> None:
        if any(k < 1 for k in (*self.ndcg, *self.mrr, *self.recall, *self.map, *self.precision)):
            raise EmbedlabError(f"metric cutoffs must be >= 1, got {self}")

    def deepest(self) -> int:
        return max((*self.ndcg, *self.mrr, *self.recall, *self.map, *self.precision), default=1)


@dataclass
class RankingScores:
    """Per-query metric values and their means over every judged query (keys like `ndcg@10`)."""

    per_query: dict[str, dict[str, float]]
    mean: dict[str, float]


def ranking_metrics(qrels: Qrels, run: Run, cutoffs: Cutoffs = Cutoffs()) -> RankingScores:
    """Score a run against graded judgements as trec_eval does; relevance > 0 counts as relevant.

    Each query's run is ranked in trec_eval's order (see trec_order), not in the order of the dict.
    nDCG: gain = relevance, discount log2(rank + 1), ideal from the qrels; MAP@k, Recall@k: divided by all
    relevant docs; P@k: divided by k; MRR@k: 1/rank of the first relevant doc within k.
    Every query in `qrels` is scored and averaged; one missing from the run scores 0 on every metric
    (trec_eval -c). Queries in the run without judgements are ignored. pytrec_eval and BEIR instead average
    over queries present in both, which gives the same numbers whenever the run covers all judged queries.
    """
    depth = cutoffs.deepest()
    query_ids = list(qrels)
    # One row per query: the relevance of its ranked docs to `depth`, padded with 0 (non-relevant).
    gains = np.zeros((len(query_ids), depth), dtype=np.float64)
    ideal = np.zeros((len(query_ids), depth), dtype=np.float64)
    total_relevant = np.zeros(len(query_ids), dtype=np.float64)
    for row, qid in enumerate(query_ids):
        judged = qrels[qid]
        ranked = trec_order(run.get(qid, {}))[:depth]
        gains[row, : len(ranked)] = [max(judged.get(doc, 0), 0) for doc in ranked]
        positive = sorted((r for r in judged.values() if r > 0), reverse=True)[:depth]
        ideal[row, : len(positive)] = positive
        total_relevant[row] = sum(1 for r in judged.values() if r > 0)
    values = _metric_columns(gains, ideal, total_relevant, cutoffs)
    per_query = {qid: {name: float(col[row]) for name, col in values.items()} for row, qid in enumerate(query_ids)}
    mean = {name: float(column.mean()) if len(column) else 0.0 for name, column in values.items()}
    return RankingScores(per_query=per_query, mean=mean)


def trec_order(scores: dict[str, float]) -> list[str]:
    """Doc ids by score descending, then doc id descending: the order trec_eval evaluates a run in.

    trec_eval holds scores as C floats, so scores equal in float32 tie; doc ids compare as strcmp does.
    """
    docs = list(scores)
    with np.errstate(over="ignore"):  # out-of-range scores become +-inf, as the C cast makes them
        values = np.array([scores[doc] for doc in docs], dtype=np.float64).astype(np.float32).tolist()
    # Python compares str by code point, which orders like strcmp on their UTF-8 bytes.
    return [docs[i] for i in sorted(range(len(docs)), key=lambda i: (values[i], docs[i]), reverse=True)]


def _metric_columns(
    gains: np.ndarray, ideal: np.ndarray, total_relevant: np.ndarray, cutoffs: Cutoffs
) -> dict[str, np.ndarray]:
    """Every metric as a column over queries, from the ranked gains and ideal gains (both queries x depth)."""
    ranks = np.arange(1, gains.shape[1] + 1, dtype=np.float64)
    relevant = gains > 0
    hits = np.cumsum(relevant, axis=1)
    dcg = np.cumsum(gains / np.log2(ranks + 1), axis=1)
    idcg = np.cumsum(ideal / np.log2(ranks + 1), axis=1)
    precision_sum = np.cumsum(np.where(relevant, hits / ranks, 0.0), axis=1)
    first_hit = np.where(relevant.any(axis=1), relevant.argmax(axis=1) + 1, np.inf)
    # Queries without relevant docs score 0, as in trec_eval, rather than dividing by zero.
    denominator = np.where(total_relevant > 0, total_relevant, np.inf)
    columns: dict[str, np.ndarray] = {}
    for k in cutoffs.ndcg:
        ideal_k = idcg[:, k - 1]
        columns[f"ndcg@{k}"] = np.divide(dcg[:, k - 1], ideal_k, out=np.zeros(len(gains)), where=ideal_k > 0)
    for k in cutoffs.mrr:
        columns[f"mrr@{k}"] = np.where(first_hit <= k, 1.0 / first_hit, 0.0)
    for k in cutoffs.recall:
        columns[f"recall@{k}"] = hits[:, k - 1] / denominator
    for k in cutoffs.map:
        columns[f"map@{k}"] = precision_sum[:, k - 1] / denominator
    for k in cutoffs.precision:
        columns[f"p@{k}"] = hits[:, k - 1] / k
    return columns
