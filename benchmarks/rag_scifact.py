"""RAG retrieval on SciFact: how often the abstract that settles a claim is among the chunks a RAG prompt quotes.

Each test claim is the question; recall@k is the share of its relevant abstracts owning one of the top k chunks.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import torch
from common import REPORTS, measured_at, scifact_test, write_report
from rich.console import Console
from rich.table import Table

from embedlab import Encoder
from embedlab.apps.rag import RagConfig, evaluate_rag_retrieval
from embedlab.data.corpus import Document
from embedlab.hardware import as_dict, cpu_info, report_header
from embedlab.index.index import Index, IndexConfig

KS = (1, 5, 10, 20)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["dense", "bm25", "hybrid"], help="retrieval modes to measure")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where rag.json and rag.md go")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    dataset = scifact_test()
    documents = [Document(id=i, text=d["text"], title=d["title"], metadata={}) for i, d in dataset.corpus.items()]
    encoder = Encoder.load("minilm", device="cpu")
    config = IndexConfig()
    start = time.perf_counter()
    index = Index.build(encoder, documents, config)
    build_seconds = time.perf_counter() - start
    results = {}
    for mode in args.modes:
        start = time.perf_counter()
        recall = evaluate_rag_retrieval(index, dataset.queries, dataset.qrels, KS, RagConfig(mode=mode))
        results[mode] = {"recall": recall, "seconds": time.perf_counter() - start}
    info = cpu_info()
    settings = {
        "dataset": f"{dataset.name}/{dataset.split}",
        "queries": len(dataset.queries),
        "documents": len(documents),
        "chunks": len(index),
        "model": "all-MiniLM-L6-v2 (bundled)",
        "index_config": asdict(config),
        "build_seconds": build_seconds,
        "threads": torch.get_num_threads(),
    }
    when = measured_at()
    report = {"date": when, "settings": settings, "cpu": as_dict(info), "torch": torch.__version__, "results": results}
    write_report(args.out, "rag", report, markdown(info, settings, results, when))
    show(results)


def markdown(info, settings: dict, results: dict, when: str) -> str:
    rows = [
        f"| {mode} | " + " | ".join(f"{100 * r['recall'][f'recall@{k}']:.1f}" for k in KS) + f" | {r['seconds']:.0f} |"
        for mode, r in results.items()
    ]
    return "\n".join(
        [
            "# RAG retrieval on SciFact",
            "",
            report_header(info),
            "",
            (
                f"Run {when} on CPU: the {settings['queries']} {settings['dataset']} claims as questions against "
                f"{settings['documents']:,} abstracts cut into {settings['chunks']:,} chunks, embedded with "
                f"{settings['model']} (index built in {settings['build_seconds']:.0f} s)."
            ),
            "",
            "| mode | " + " | ".join(f"recall@{k}" for k in KS) + " | search s |",
            "|---|" + "---:|" * (len(KS) + 1),
            *rows,
            "",
            (
                "recall@k is the share of a claim's relevant abstracts that own at least one of the k chunks the RAG "
                "retriever returns, i.e. that a k-source prompt would quote, averaged over claims (x100). It counts "
                "chunks, not documents: two chunks of one abstract take two of the k places. Hybrid fuses the dense "
                'and BM25 rankings as `Index.search(mode="hybrid")` does.'
            ),
            "",
        ]
    )


def show(results: dict) -> None:
    table = Table(title="RAG retrieval on SciFact test (recall@k x100)")
    table.add_column("mode")
    for k in KS:
        table.add_column(f"recall@{k}", justify="right")
    for mode, r in results.items():
        table.add_row(mode, *(f"{100 * r['recall'][f'recall@{k}']:.1f}" for k in KS))
    Console().print(table)


if __name__ == "__main__":
    main()
