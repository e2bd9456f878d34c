"""What happens to a first-stage ranking before it is scored: fusion with another run, and cross-encoder reranking.

Both take and return runs ({query id: {doc id: score}}), so any retriever's output can be fused or re-ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embedlab.data.beir import BeirDataset
from embedlab.errors import EmbedlabError
from embedlab.evaluation.ranking_metrics import Run, trec_order
from embedlab.rank_fusion import RRF_K, reciprocal_rank_fusion


def fuse_runs(runs: Sequence[Run], depth: int, k: int = RRF_K) -> Run:
    """Reciprocal rank fusion of runs, query by query (each run in trec order); the best `depth` per query kept."""
    if not runs or k < 0 or depth < 1:
        raise EmbedlabError(
            f"fusion needs at least one run, k >= 0 and depth >= 1 (got {len(runs)} runs, k={k}, depth={depth})"
        )
    fused: Run = {}
    for query_id in dict.fromkeys(q for run in runs for q in run):
        scores = dict(reciprocal_rank_fusion([trec_order(run.get(query_id, {})) for run in runs], k))
        fused[query_id] = {doc: scores[doc] for doc in trec_order(scores)[:depth]}
    return fused


def rerank_run(reranker: Any, dataset: BeirDataset, run: Run, top_n: int, batch_size: int = 32) -> Run:
    """Re-order each query's best `top_n` documents by the reranker's logits (`predict(..., activation=False)`).

    Logits rather than probabilities: a sigmoid saturates to 1.0 in float32 and would turn the best into ties.
    Documents beyond top_n keep their order below every re-ranked one, so recall beyond top_n is unchanged.
    """
    if top_n < 1:
        raise EmbedlabError(f"the rerank depth must be at least 1, not {top_n}")
    texts = dict(zip(dataset.doc_ids(), dataset.doc_texts()))
    ordered = {qid: trec_order(docs) for qid, docs in run.items()}
    pairs = [(qid, doc) for qid, docs in ordered.items() for doc in docs[:top_n]]
    logits = reranker.predict(
        [(dataset.queries[qid], texts[doc]) for qid, doc in pairs], batch_size=batch_size, activation=False
    )
    reranked: Run = {qid: {} for qid in ordered}
    for (qid, doc), logit in zip(pairs, logits):
        reranked[qid][doc] = float(logit)
    for qid, docs in ordered.items():
        floor = min(reranked[qid].values(), default=0.0)
        for rank, doc in enumerate(docs[top_n:], start=1):
            reranked[qid][doc] = floor - rank
    return reranked
