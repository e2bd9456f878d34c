"""Retrieval evaluation on BEIR datasets: rank the corpus for every query, score with nDCG@10 and friends.

Dense models search exactly (no approximate index) so the numbers compare with BEIR and MTEB tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.bm25 import BM25Config, BM25Index
from embedlab.data.beir import BeirDataset, load_beir
from embedlab.embedder import Embedder, SparseEmbedder, representation
from embedlab.errors import EmbedlabError
from embedlab.evaluation.embedding_cache import cached_encode
from embedlab.evaluation.ranking_metrics import Run, ranking_metrics
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.second_stage import fuse_runs, rerank_run
from embedlab.index.sparse_index import sparse_top_k
from embedlab.instructions import check_task
from embedlab.maxsim import maxsim_top_k
from embedlab.rank_fusion import RRF_K
from embedlab.similarity import Hit, semantic_search


@dataclass(frozen=True)
class RetrievalConfig:
    """How a retrieval run is made: qrels split, run depth, encoding batch, scoring and caching.

    ignore_identical_ids drops a retrieved doc whose id equals the query id, as BEIR does (for corpora that
    contain the queries, e.g. ArguAna); switch it off where ids merely collide, as in Cranfield.
    hybrid fuses the model's run with BM25's (reciprocal rank fusion); rerank_top is how many of each query's
    first-stage documents a reranker passed to evaluate_retrieval re-orders; rerank_fusion fuses the reranked
    order with the first stage's instead of replacing it (a reranker trained on little data then adds its
    evidence to the first stage's rather than overruling it). task is the search task an instruction-tuned
    model's queries are encoded with (embedlab/instructions.py); documents never get it.
    """

    split: str = "test"
    top_k: int = 100
    batch_size: int = 32
    ignore_identical_ids: bool = True
    score: str = "cosine"
    use_cache: bool = True
    chunk_size: int = 50_000
    bm25: BM25Config = field(default_factory=BM25Config)
    hybrid: bool = False
    rerank_top: int = 100
    rerank_fusion: bool = False
    task: str | None = None

    def __post_init__(self) -> None:
        if self.task is not None:
            check_task(self.task)
        # Checked up front: a bad value found after encoding the corpus would waste minutes.
        if min(self.top_k, self.batch_size, self.chunk_size, self.rerank_top) < 1 or self.score not in (
            "cosine",
            "dot",
        ):
            raise EmbedlabError(
                f"need top_k, batch_size, chunk_size, rerank_top >= 1 and score 'cosine' or 'dot', got {self.top_k}, "
                f"{self.batch_size}, {self.chunk_size}, {self.rerank_top}, {self.score!r}"
            )


def evaluate_retrieval(
    model: Embedder, data_dir: str | Path, config: RetrievalConfig = RetrievalConfig(), reranker: Any = None
) -> EvalResult:
    """nDCG@{1,3,5,10,100}, MRR@10, Recall@{1,5,10,100}, MAP@{10,100}, P@10 of a model on a BEIR dataset.

    `model` is an Encoder, TwoTowerEncoder or StaticEncoder, or "bm25"; `data_dir` a BEIR directory or a
    dataset name. A `reranker` (CrossEncoder) re-orders each query's top config.rerank_top documents;
    `first_stage_ndcg@10` in the settings is the score before that.
    """
    dataset = load_beir(data_dir, config.split)
    run = retrieval_run(model, dataset, config)
    extra: dict[str, Any] = {}
    if config.hybrid:
        if model == "bm25":
            raise EmbedlabError("hybrid fuses a dense model with BM25; give a model, not bm25")
        run = fuse_runs([run, retrieval_run("bm25", dataset, replace(config, task=None))], depth=config.top_k)
        extra["hybrid"] = f"reciprocal rank fusion with BM25 (k={RRF_K})"
    if reranker is not None:
        first_stage = run
        extra["first_stage_ndcg@10"] = ranking_metrics(dataset.qrels, run).mean["ndcg@10"]
        run = rerank_run(reranker, dataset, run, config.rerank_top, config.batch_size)
        extra.update(reranker=reranker.name, rerank_top=config.rerank_top)
        if config.rerank_fusion:
            extra["reranked_ndcg@10"] = ranking_metrics(dataset.qrels, run).mean["ndcg@10"]
            run = fuse_runs([first_stage, run], depth=config.top_k)
            extra["rerank_fusion"] = f"reciprocal rank fusion of the first stage and the reranked order (k={RRF_K})"
    settings = {
        "split": config.split,
        "top_k": config.top_k,
        "ignore_identical_ids": config.ignore_identical_ids,
        "queries": len(dataset.queries),
        "documents": len(dataset.corpus),
        "corpus_sha256": dataset.corpus_sha256,
        **extra,
    }
    if model == "bm25":
        settings["bm25"] = asdict(config.bm25)
    else:
        # Sparse rows always score by their dot product, token vectors by MaxSim.
        score = {"sparse": "dot", "multi_vector": "maxsim"}.get(representation(model), config.score)
        settings.update(score=score, prompts=prompts_used(model, config.task), model_info=model.info())
    return EvalResult(
        task="retrieval",
        dataset=f"{dataset.name}/{dataset.split}",
        model=("bm25" if model == "bm25" else model.name) + (f" + {reranker.name}" if reranker is not None else ""),
        metrics=ranking_metrics(dataset.qrels, run).mean,
        main_metric="ndcg@10",
        settings=settings,
    )


def retrieval_run(model: Embedder, dataset: BeirDataset, config: RetrievalConfig = RetrievalConfig()) -> Run:
    """The top_k docs per query with their scores ({query id: {doc id: score}}), for metrics or reranking."""
    query_ids = list(dataset.queries)
    # One extra hit per query so that top_k remain after dropping the query's own id.
    depth = config.top_k + config.ignore_identical_ids
    hits = _search(model, dataset, [dataset.queries[q] for q in query_ids], depth, config)
    doc_ids = dataset.doc_ids()
    run: Run = {}
    for query_id, query_hits in zip(query_ids, hits):
        ranked = [(doc_ids[hit.corpus_id], hit.score) for hit in query_hits]
        if config.ignore_identical_ids:
            ranked = [(doc_id, score) for doc_id, score in ranked if doc_id != query_id]
        run[query_id] = dict(ranked[: config.top_k])
    return run


def document_embeddings(model: Embedder, texts: Sequence[str], batch_size: int, use_cache: bool) -> np.ndarray:
    """Documents encoded with the model's document prompt, read from the embedding cache when allowed."""

    def encode(batch: list[str]) -> np.ndarray:
        return model.encode_documents(batch, batch_size=batch_size)

    return cached_encode(model, texts, encode, {"method": "encode_documents"}) if use_cache else encode(list(texts))


def prompts_used(model: Embedder, task: str | None = None) -> dict[str, str]:
    """The text encode_queries (given `task`) and encode_documents put before each query and document."""
    return {"query": model.query_prompt_for(task), "document": model.document_prompt}


def _search(
    model: Embedder, dataset: BeirDataset, queries: list[str], depth: int, config: RetrievalConfig
) -> list[list[Hit]]:
    if isinstance(model, str):
        if model != "bm25":
            raise EmbedlabError(f"the only named retriever is 'bm25', got {model!r}; pass an encoder otherwise")
        if config.task is not None:
            raise EmbedlabError("a task is an instruction for embedding models; bm25 takes none")
        return BM25Index.build(dataset.doc_texts(), config.bm25).search(queries, depth)
    kind = representation(model)
    if kind != "dense" and config.task is not None:
        raise EmbedlabError(f"a task is an instruction for dense embedding models; a {kind.replace('_', '-')} model "
                            "takes none")
    if kind == "sparse":
        return _sparse_search(model, dataset, queries, depth, config)
    if kind == "multi_vector":
        # Exact MaxSim over the whole corpus; long queries are cut to the model's query budget, as ColBERT does.
        query_rows = model.encode_queries(queries, batch_size=config.batch_size, truncate=True)
        document_rows = model.encode_documents(dataset.doc_texts(), batch_size=config.batch_size)
        return maxsim_top_k(query_rows, document_rows, depth)
    query_embeddings = model.encode_queries(queries, task=config.task, batch_size=config.batch_size)
    corpus_embeddings = document_embeddings(model, dataset.doc_texts(), config.batch_size, config.use_cache)
    return semantic_search(query_embeddings, corpus_embeddings, depth, score=config.score, chunk_size=config.chunk_size)


def _sparse_search(
    model: SparseEmbedder, dataset: BeirDataset, queries: list[str], depth: int, config: RetrievalConfig
) -> list[list[Hit]]:
    """Exact dot products of sparse rows over the inverted corpus; the dense embedding cache does not apply."""
    query_rows = model.encode_queries(queries, batch_size=config.batch_size)
    return sparse_top_k(query_rows, model.encode_documents(dataset.doc_texts(), batch_size=config.batch_size), depth)
