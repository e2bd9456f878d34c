"""Reranking evaluation: re-order each query's candidate list (BM25's top-n by default) by embedding cosine.

It isolates ranking quality from recall: every model sees the same candidates, so only their order differs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from embedlab.data.beir import BeirDataset, load_beir
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.ranking_metrics import (
    Cutoffs,
    Run,
    ranking_metrics,
    trec_order,
)
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.retrieval import (
    RetrievalConfig,
    document_embeddings,
    prompts_used,
    retrieval_run,
)
from embedlab.similarity import cosine_similarity


def evaluate_reranking(
    model: Embedder,
    data_dir: str | Path,
    candidates: str | Run = "bm25",
    top_n: int = 100,
    split: str = "test",
    batch_size: int = 32,
    use_cache: bool = True,
    task: str | None = None,
) -> EvalResult:
    """MAP and MRR@10 of the model's cosine order over each query's top_n candidates; main metric `map`.

    `candidates` is "bm25" (BM25 top_n, query's own id dropped) or a run {query id: {doc id: score}}.
    `map` is trec_eval's map@top_n: relevant docs outside the candidates count in the denominator, and
    queries with no candidates score 0. `candidate_map` / `candidate_mrr@10` score the candidates' own order.
    `task` is the instruction an instruction-tuned model's queries get (embedlab/instructions.py).
    """
    if isinstance(model, str):
        raise EmbedlabError(f"reranking needs an embedding model, not {model!r}")
    if top_n < 1:
        raise EmbedlabError(f"top_n must be >= 1, got {top_n}")
    dataset = load_beir(data_dir, split)
    config = RetrievalConfig(split=split, top_k=top_n, batch_size=batch_size, use_cache=use_cache, task=task)
    if isinstance(candidates, str):
        if candidates != "bm25":
            raise EmbedlabError(f"candidates must be 'bm25' or a run dict, got {candidates!r}")
        candidate_run = retrieval_run("bm25", dataset, replace(config, task=None))
    else:
        candidate_run = _top_n(candidates, top_n, dataset.corpus)
    reranked = _rerank(model, dataset, candidate_run, config)
    cutoffs = Cutoffs(ndcg=(), mrr=(10,), recall=(), map=(top_n,), precision=())
    ours = ranking_metrics(dataset.qrels, reranked, cutoffs).mean
    theirs = ranking_metrics(dataset.qrels, candidate_run, cutoffs).mean
    return EvalResult(
        task="reranking",
        dataset=f"{dataset.name}/{dataset.split}",
        model=model.name,
        metrics={
            "map": ours[f"map@{top_n}"],
            "mrr@10": ours["mrr@10"],
            "candidate_map": theirs[f"map@{top_n}"],
            "candidate_mrr@10": theirs["mrr@10"],
        },
        main_metric="map",
        settings={
            "candidates": candidates if isinstance(candidates, str) else "given run",
            "top_n": top_n,
            "split": split,
            "queries": len(dataset.queries),
            "candidate_documents": len({doc for docs in candidate_run.values() for doc in docs}),
            "corpus_sha256": dataset.corpus_sha256,
            "prompts": prompts_used(model, task),
            "model_info": model.info(),
        },
    )


def _top_n(run: Run, top_n: int, corpus: dict) -> Run:
    """Each query's best top_n candidates in trec_eval order; every candidate must be in the corpus."""
    unknown = sorted({doc for docs in run.values() for doc in docs if doc not in corpus})
    if unknown:
        raise EmbedlabError(f"{len(unknown)} candidate doc ids are not in the corpus (first: {unknown[0]!r})")
    return {qid: {doc: docs[doc] for doc in trec_order(docs)[:top_n]} for qid, docs in run.items()}


def _rerank(model: Embedder, dataset: BeirDataset, run: Run, config: RetrievalConfig) -> Run:
    """Cosine of each judged query with each of its candidates; only candidate documents are encoded."""
    query_ids = [qid for qid in dataset.queries if run.get(qid)]
    wanted = {doc for qid in query_ids for doc in run[qid]}
    # Corpus order, so the same candidate set always gives the same texts and hits the embedding cache.
    needed = [(doc, text) for doc, text in zip(dataset.doc_ids(), dataset.doc_texts()) if doc in wanted]
    row = {doc: i for i, (doc, _) in enumerate(needed)}
    doc_vectors = document_embeddings(model, [text for _, text in needed], config.batch_size, config.use_cache)
    queries = [dataset.queries[qid] for qid in query_ids]
    query_vectors = model.encode_queries(queries, task=config.task, batch_size=config.batch_size)
    reranked: Run = {}
    for qid, query_vector in zip(query_ids, query_vectors):
        docs = list(run[qid])
        scores = cosine_similarity(query_vector, doc_vectors[[row[doc] for doc in docs]])
        reranked[qid] = dict(zip(docs, map(float, scores)))
    return reranked
