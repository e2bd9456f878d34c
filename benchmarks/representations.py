"""Three retrieval representations side by side: dense (one vector per text), learned sparse (SPLADE) and
multi-vector late interaction (ColBERT), each alone and fused with BM25 and with the best dense model.

Every trained row starts from all-MiniLM-L6-v2 and is fine-tuned the same way on SciFact train (in-batch InfoNCE,
1 epoch, batch 32, 128 tokens, learning rate 5e-5, bf16 autocast); it is scored on SciFact test and, unseen in
training, on Cranfield. `run` writes one JSON per (row, seed) under docs/benchmarks/representations/ (skipped
when it exists, so the script resumes) and keeps each ranked run under runs/representations/ for the fusion rows;
`costs` measures encode time, index bytes and single-query latency through the row's own index (seed 0, SciFact
documents). `report` writes docs/benchmarks/representations.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from common import REPORTS, measured_at, write_report
from scifact_finetune import spread

from embedlab.atomic import write_json
from embedlab.data import dataset_path
from embedlab.data.beir import load_beir
from embedlab.data.corpus import ChunkConfig, read_corpus
from embedlab.embedder import representation
from embedlab.evaluation.ranking_metrics import Run, ranking_metrics
from embedlab.evaluation.retrieval import RetrievalConfig, retrieval_run
from embedlab.evaluation.second_stage import fuse_runs
from embedlab.hardware import cpu_info, report_header
from embedlab.index.index import IndexConfig
from embedlab.index.open import build_index, load_index
from embedlab.models.loading import load_model
from embedlab.training.build import train
from embedlab.training.config import TrainConfig

RESULTS = REPORTS / "representations"
RUNS = Path("runs") / "representations"
SEEDS = (0, 1, 2)
TRAIN_LENGTH, EVAL_LENGTH = 128, 256
DATASETS = ("scifact", "cranfield")
# Cranfield numbers its queries and documents independently, so equal ids are a coincidence, not the query itself.
IGNORE_IDENTICAL_IDS = {"scifact": True, "cranfield": False}
LATENCY_QUERIES = 100
# Costs are measured on the first documents of the SciFact corpus: the per-document figures need no more, and a
# third full-corpus encode per row would double the run.
COST_DOCUMENTS = 1000
# Measured by this script before SparseEncoder.from_dense set its head as it does now (git history has the JSON).
SPLADE_BEFORE = (
    "Before: the same recipe from a randomly initialised transform and a zero bias left the head active on ~30,500 "
    "of 30,522 terms after its 28 steps (ranking loss 200-440, saturated by dot products over the whole vocabulary; "
    "FLOPS pruned nothing). Every active term kept, it ranked at random (seed 2: SciFact nDCG@10 2.10, Cranfield "
    "2.35); pruned to its 128 heaviest terms, 36.60 ± 1.05 and 23.02 ± 0.50 (3 seeds)."
)


@dataclass(frozen=True)
class Row:
    label: str
    architecture: str | None = None  # None: not trained (BM25, the base model)

    @property
    def seeded(self) -> bool:
        return self.architecture is not None


ROWS = {
    "bm25": Row("BM25"),
    "dense_base": Row("dense: all-MiniLM-L6-v2, no fine-tuning"),
    "dense": Row("dense: fine-tuned", "bi_encoder"),
    "colbert": Row("multi-vector (ColBERT): fine-tuned", "multi_vector"),
    "splade": Row("sparse (SPLADE): fine-tuned", "sparse"),
}


def result_path(row: str, seed: int) -> Path:
    return RESULTS / f"{row}-seed{seed}.json"


def costs_path(row: str) -> Path:
    return RESULTS / f"{row}-costs.json"


def run_path(row: str, seed: int, dataset: str) -> Path:
    return RUNS / "rankings" / f"{row}-s{seed}-{dataset}.json"


def model_for(name: str, seed: int) -> tuple[object, dict]:
    """The row's model at evaluation length (training it first when its final checkpoint is missing)."""
    row = ROWS[name]
    if name == "dense_base":
        model = load_model("minilm")
        model.max_seq_length = EVAL_LENGTH
        return model, {}
    output = RUNS / f"{name}-s{seed}"
    config = TrainConfig(data=[{"path": "beir/scifact", "kind": "beir"}], architecture=row.architecture,
                         model="minilm", max_seq_length=TRAIN_LENGTH, batch_size=32, epochs=1, learning_rate=5e-5,
                         warmup_ratio=0.1, eval_data=None, checkpoint_every=10_000, seed=seed, bf16=True,
                         output_dir=str(output))
    summary: dict = {"config": config.to_dict()}
    if not (output / "final").is_dir():
        start = time.perf_counter()
        report = train(config, resume=True)
        summary["training"] = {"steps": report.steps, "seconds": time.perf_counter() - start,
                               "last_losses": report.losses[-5:]}
    model = load_model(output / "final")
    model.max_seq_length = EVAL_LENGTH
    return model, summary


def ranking(model: object, dataset: str) -> Run:
    config = RetrievalConfig(split="test", top_k=100, ignore_identical_ids=IGNORE_IDENTICAL_IDS[dataset],
                             use_cache=False)
    return retrieval_run(model, load_beir(dataset, "test"), config)


def costs(model: object, directory: Path) -> dict:
    """Encode cost, index size and single-query latency of the row's own index over SciFact documents, each
    document one chunk cut at the evaluation length as in the retrieval run."""
    corpus = load_beir("scifact", "test")
    documents = read_corpus(dataset_path("beir", "scifact"))[:COST_DOCUMENTS]
    shutil.rmtree(directory, ignore_errors=True)
    start = time.perf_counter()
    index = build_index(model, documents, IndexConfig(chunks=ChunkConfig(max_tokens=1_000_000, overlap=0)))
    build_seconds = time.perf_counter() - start
    index.save(directory)
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    index = load_index(directory, model)
    # A ColBERT index refuses a query past the model's query budget unless told to cut it, as evaluation does.
    options = {"truncate": True} if representation(model) == "multi_vector" else {}
    queries = list(corpus.queries.values())[:LATENCY_QUERIES]
    index.search(queries[0], k=10, **options)  # warm-up: first-call allocations are not a query's cost
    latencies = []
    for query in queries:
        start = time.perf_counter()
        index.search(query, k=10, **options)
        latencies.append(1000 * (time.perf_counter() - start))
    return {"documents": len(documents), "encode_ms_per_document": 1000 * build_seconds / len(documents),
            "index_bytes_per_document": size / len(documents),
            "query_ms_p50": float(np.percentile(latencies, 50)), "query_ms_p99": float(np.percentile(latencies, 99))}


def run_row(name: str, seed: int) -> dict:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model, summary = (("bm25", {}) if name == "bm25" else model_for(name, seed))
        scores = {}
        for dataset in DATASETS:
            path = run_path(name, seed, dataset)
            if path.is_file():  # a run stopped after this ranking: only the rest is redone
                run = json.loads(path.read_text())
            else:
                run = ranking(model, dataset)
                write_json(run, path)
            metrics = ranking_metrics(load_beir(dataset, "test").qrels, run).mean
            scores[dataset] = {"ndcg@10": metrics["ndcg@10"], "recall@100": metrics["recall@100"]}
    kind = "lexical" if name == "bm25" else representation(model)
    return {"row": name, "label": ROWS[name].label, "representation": kind, "seed": seed, "scores": scores,
            **summary, "minutes": (time.perf_counter() - start) / 60, "measured": measured_at()}


def row_costs(name: str) -> dict:
    """costs() of the row's seed-0 model, every forward pass in bf16 autocast as in the retrieval runs."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model, _ = model_for(name, 0)
        return {"row": name, **costs(model, RUNS / f"index-{name}"), "measured": measured_at()}


def fused(rows: list[str], seed: int, dataset: str) -> dict | None:
    """nDCG@10 and Recall@100 of the reciprocal rank fusion of the rows' stored rankings for one seed."""
    paths = [run_path(row, seed if ROWS[row].seeded else 0, dataset) for row in rows]
    if not all(path.is_file() for path in paths):
        return None
    metrics = ranking_metrics(load_beir(dataset, "test").qrels,
                              fuse_runs([json.loads(path.read_text()) for path in paths], depth=100)).mean
    return {"ndcg@10": metrics["ndcg@10"], "recall@100": metrics["recall@100"]}


def best_dense(found: dict) -> str:
    """The dense row with the best mean SciFact nDCG@10: the dense side of the fused rows."""
    means = {name: statistics.mean(r["scores"]["scifact"]["ndcg@10"] for r in found[name])
             for name in ("dense_base", "dense") if found.get(name)}
    return max(means, key=means.get) if means else "dense_base"


def report(seeds: list[int]) -> tuple[dict, str]:
    found = {name: [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"{name}-seed*.json"))] for name in ROWS}
    dense = best_dense(found)
    table: dict[str, dict] = {}
    seeded: set[str] = set()  # labels whose figures are per seed: "(1 seed)" says so even for one
    for name, row in ROWS.items():
        runs = found[name]
        if runs:
            table[row.label] = {d: [r["scores"][d] for r in runs] for d in DATASETS}
            if row.seeded:
                seeded.add(row.label)
    for name in ("colbert", "splade", dense):
        for partners, label in ((["bm25"], "+ BM25"), ([dense], f"+ {ROWS[dense].label.split(':')[0]} ({dense})"),
                                (["bm25", dense], f"+ BM25 + {dense}")):
            if name in partners or not found[name]:
                continue
            rows = [name, *partners]
            per_dataset = {d: [s for s in (fused(rows, r["seed"], d) for r in found[name]) if s] for d in DATASETS}
            if all(per_dataset.values()):
                table[f"{ROWS[name].label} {label} (RRF)"] = per_dataset
                if ROWS[name].seeded:
                    seeded.add(f"{ROWS[name].label} {label} (RRF)")
    lines = [
        "# Retrieval representations: dense, sparse (SPLADE), multi-vector (ColBERT)",
        "",
        report_header(cpu_info()),
        "",
        ("Measured by `python benchmarks/representations.py run` then `report`. Trained rows: all-MiniLM-L6-v2 "
         "fine-tuned on SciFact train (919 query/document pairs), in-batch InfoNCE, 1 epoch, batch 32, "
         f"{TRAIN_LENGTH} tokens, learning rate 5e-5, bf16 autocast; evaluated at {EVAL_LENGTH} tokens, every "
         "forward pass in bf16 autocast. SPLADE starts from MiniLM's tied MLM decoder (its input embeddings) with "
         "a fresh transform (identity dense layer) and a bias that activates a term past cosine 0.3 with a token "
         "state (docs/sparse.md), every active term kept; ColBERT from MiniLM's token states with a freshly "
         "initialised 128-wide projection. Cranfield is unseen in training. Exact search for every row (MaxSim "
         "over the whole corpus, "
         "sparse dot products over every document). Fusion: reciprocal rank fusion (k=60) of the stored rankings "
         "of the same seed. Scores x100; mean ± sample standard deviation over seeds."),
        "",
        "| representation | SciFact nDCG@10 | SciFact Recall@100 | Cranfield nDCG@10 | Cranfield Recall@100 |",
        "|---|---:|---:|---:|---:|",
    ]
    if not found["dense"]:
        # The same fine-tuning of the dense model was measured on SciFact by scifact_finetune.py; quoted, not re-run.
        quoted = [json.loads(p.read_text()) for p in sorted((REPORTS / "scifact").glob("inbatch-seed*.json"))]
        if quoted:
            table["dense: fine-tuned alike (scifact_finetune.py's in-batch row; SciFact only)"] = {
                "scifact": [{m: q[m] for m in ("ndcg@10", "recall@100")} for q in quoted], "cranfield": []}
    for label, per_dataset in table.items():
        cells = []
        for d in DATASETS:
            for metric in ("ndcg@10", "recall@100"):
                values = [s[metric] for s in per_dataset[d]]
                if not values:
                    cells.append("not measured")
                    continue
                cells.append(spread(values) if label in seeded or len(values) > 1 else f"{100 * values[0]:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", SPLADE_BEFORE]
    lines += ["", f"## Costs (seed 0; the first {COST_DOCUMENTS:,} SciFact documents through each row's own index)",
              "", ("Each row was measured at its own time (last column) on a machine shared with other jobs: the "
                   "bytes compare exactly, the times only roughly."),
              "", ("| representation | encode + index ms / doc | index bytes / doc | query p50 ms | query p99 ms | "
                   "measured |"),
              "|---|---:|---:|---:|---:|---|"]
    for name, row in ROWS.items():
        cost = json.loads(costs_path(name).read_text()) if costs_path(name).is_file() else None
        if cost:
            lines.append(f"| {row.label} | {cost['encode_ms_per_document']:.1f} | "
                         f"{cost['index_bytes_per_document']:,.0f} | {cost['query_ms_p50']:.2f} | "
                         f"{cost['query_ms_p99']:.2f} | {cost['measured'][:16].replace('T', ' ')} UTC |")
    return {"rows": found, "table": table, "dense_side": dense}, "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "costs", "report"])
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows, in order")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--force", action="store_true", help="re-measure rows whose JSON exists")
    args = parser.parse_args()
    if args.command == "run":
        for name in args.rows.split(","):
            if name not in ROWS:
                raise SystemExit(f"unknown row {name!r}; rows: {', '.join(ROWS)}")
            for seed in args.seeds if ROWS[name].seeded else [0]:
                if result_path(name, seed).exists() and not args.force:
                    continue
                result = run_row(name, seed)
                write_json(result, result_path(name, seed))
                print(f"{name} seed {seed}: " + "  ".join(
                    f"{d} nDCG@10 {100 * s['ndcg@10']:.2f}" for d, s in result["scores"].items())
                    + f"  ({result['minutes']:.1f} min)", flush=True)
    if args.command == "costs":
        for name in args.rows.split(","):
            if name != "bm25" and (args.force or not costs_path(name).exists()):
                write_json(row_costs(name), costs_path(name))
    result, markdown = report(args.seeds)
    print(write_report(REPORTS, "representations", result, markdown))


if __name__ == "__main__":
    main()
