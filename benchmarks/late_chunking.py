"""Late against ordinary chunking on SciFact: abstracts cut into short token windows, each window embedded alone
(ordinary) or pooled from one reading of its whole abstract (late), searched as an Index does.

Two views of one index per chunking: BEIR's document retrieval (a document scores its best chunk; nDCG@10,
Recall@100) and the RAG benchmark's recall@k of chunks (docs/benchmarks/rag.md). SciFact abstracts fit the
model's 256 tokens, so the chunks are kept short (--chunk-tokens) for there to be something to chunk; the
corpus may be cut to the judged abstracts plus a seeded sample (--documents) to keep a CPU run to minutes.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from common import REPORTS, measured_at, scifact_test, write_report
from rich.console import Console
from rich.table import Table

from embedlab import Encoder
from embedlab.apps.rag import RagConfig, evaluate_rag_retrieval
from embedlab.data.corpus import ChunkConfig, Document
from embedlab.evaluation.ranking_metrics import Cutoffs, ranking_metrics
from embedlab.hardware import as_dict, cpu_info, report_header
from embedlab.index.index import Index, IndexConfig

RAG_KS = (1, 5, 10, 20)
CHUNK_DEPTH = 1000  # chunks searched per query: with a handful of chunks per abstract, far more than 100 abstracts


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=0, help="corpus size (judged abstracts + sample); 0: all")
    parser.add_argument("--chunk-tokens", type=int, nargs="+", default=[64], help="tokens per chunk (each a run)")
    parser.add_argument("--overlap", type=int, default=8, help="tokens consecutive chunks share")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus sample")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where late_chunking.json and .md go")
    return parser.parse_args()


def corpus(dataset, size: int, seed: int) -> list[Document]:
    """Every abstract judged for a test claim, plus a seeded sample of the others up to `size` (0: all)."""
    ids = list(dataset.corpus)
    if size:
        judged = {doc for judgements in dataset.qrels.values() for doc in judgements}
        others = [i for i in ids if i not in judged]
        chosen = judged | set(random.Random(seed).sample(others, max(0, min(len(others), size - len(judged)))))
        ids = [i for i in ids if i in chosen]
    return [Document(i, dataset.corpus[i]["text"], dataset.corpus[i]["title"]) for i in ids]


def measure(encoder: Encoder, documents: list[Document], dataset, config: IndexConfig) -> dict:
    start = time.perf_counter()
    index = Index.build(encoder, documents, config)
    build = time.perf_counter() - start
    query_ids = list(dataset.qrels)
    hits = index.search([dataset.queries[q] for q in query_ids], k=min(CHUNK_DEPTH, len(index)))
    run: dict[str, dict[str, float]] = {}
    for query_id, per_query in zip(query_ids, hits):
        best = run.setdefault(query_id, {})
        for hit in per_query:
            best[hit.doc_id] = max(best.get(hit.doc_id, -2.0), hit.score)
    scores = ranking_metrics(dataset.qrels, run, Cutoffs(ndcg=(10,), mrr=(10,), recall=(100,), map=(10,))).mean
    rag = evaluate_rag_retrieval(index, dataset.queries, dataset.qrels, RAG_KS, RagConfig(mode="dense"))
    return {
        "chunks": len(index),
        "build_seconds": build,
        "ndcg@10": scores["ndcg@10"],
        "recall@100": scores["recall@100"],
        "rag": rag,
    }


def main() -> None:
    args = parse_args()
    dataset = scifact_test()
    documents = corpus(dataset, args.documents, args.seed)
    encoder = Encoder.load("minilm", device="cpu")
    rows = []
    for tokens in args.chunk_tokens:
        for late in (False, True):
            config = IndexConfig(chunks=ChunkConfig(tokens, min(args.overlap, tokens - 1)), late_chunking=late)
            rows.append({"chunk_tokens": tokens, "late_chunking": late, **measure(encoder, documents, dataset, config)})
            Console().print(rows[-1])
    info = cpu_info()
    settings = {
        "dataset": f"{dataset.name}/{dataset.split}",
        "queries": len(dataset.qrels),
        "documents": len(documents),
        "sample_seed": args.seed,
        "overlap": args.overlap,
        "model": "all-MiniLM-L6-v2 (bundled)",
        "threads": torch.get_num_threads(),
    }
    when = measured_at()
    report = {"date": when, "settings": settings, "cpu": as_dict(info), "torch": torch.__version__, "results": rows}
    write_report(args.out, "late_chunking", report, markdown(info, settings, rows, when))
    show(rows)


def markdown(info, settings: dict, rows: list[dict], when: str) -> str:
    table = [
        f"| {r['chunk_tokens']} | {'late' if r['late_chunking'] else 'ordinary'} | {r['chunks']:,} | "
        f"{100 * r['ndcg@10']:.1f} | {100 * r['recall@100']:.1f} | "
        + " | ".join(f"{100 * r['rag'][f'recall@{k}']:.1f}" for k in RAG_KS)
        + f" | {r['build_seconds']:.0f} |"
        for r in rows
    ]
    return "\n".join(
        [
            "# Late chunking against ordinary chunking on SciFact",
            "",
            report_header(info),
            "",
            (
                f"Run {when} on CPU ({settings['threads']} threads): the {settings['queries']} {settings['dataset']} "
                f"claims against {settings['documents']:,} abstracts (every judged one plus a sample, seed "
                f"{settings['sample_seed']}), embedded with {settings['model']}. Each abstract (title + text) is cut "
                f"into windows of the given tokens, consecutive ones sharing {settings['overlap']}; ordinary chunking "
                "embeds each window alone (with the title), late chunking reads the abstract once and pools each "
                "window's token states (`benchmarks/late_chunking.py`)."
            ),
            "",
            "| chunk tokens | chunking | chunks | nDCG@10 | Recall@100 | "
            + " | ".join(f"RAG recall@{k}" for k in RAG_KS)
            + " | build s |",
            "|---:|---|---:|" + "---:|" * (3 + len(RAG_KS)),
            *table,
            "",
            (
                "nDCG@10 and Recall@100 rank abstracts, each scored by its best chunk (BEIR's document retrieval). "
                "RAG recall@k is docs/benchmarks/rag.md's measure: the share of a claim's relevant abstracts that own "
                "one of the k best chunks. A corpus cut to the judged abstracts plus a sample is easier than the full "
                "one: compare these rows with each other, not with the full-corpus tables. Build seconds are wall time "
                "on 2 shared cores, so only roughly comparable."
            ),
            "",
        ]
    )


def show(rows: list[dict]) -> None:
    table = Table(title="Late vs ordinary chunking, SciFact test (x100)")
    for column in ("tokens", "chunking", "nDCG@10", "R@100", *(f"RAG r@{k}" for k in RAG_KS)):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["chunk_tokens"]), "late" if r["late_chunking"] else "ordinary", f"{100 * r['ndcg@10']:.1f}",
            f"{100 * r['recall@100']:.1f}", *(f"{100 * r['rag'][f'recall@{k}']:.1f}" for k in RAG_KS),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
