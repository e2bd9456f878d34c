"""Quality of each inference backend against fp32: STS-B test Spearman and SciFact nDCG@10, as `embedlab eval`
computes them, and whether a backend stays within QUALITY_BOUND points of torch fp32 on both.

    python benchmarks/backend_quality.py                     # torch, onnx-int8, openvino-int8
    python benchmarks/backend_quality.py --backends torch,torch-bf16

The same two numbers are encode.md's quality columns; this script measures them for a few backends without the
timed contenders, so it can run beside other work (it times nothing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import REPORTS, cpu_class, load_store, measured_at, recorded_header, write_report

from embedlab import Encoder
from embedlab.data import dataset_path
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import as_dict, cpu_info

QUALITY_BOUND = 0.5  # points (x100) of STS-B Spearman and SciFact nDCG@10 a fast backend may lose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="torch,onnx-int8,openvino-int8", help="comma-separated, torch first")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    sts, scifact = dataset_path("sts", "stsb", "test.jsonl"), dataset_path("beir", "scifact")
    if sts is None or scifact is None:
        raise SystemExit("needs STS-B and SciFact under the data root (EMBEDLAB_DATA)")
    rows = []
    for backend in args.backends.split(","):
        encoder = Encoder.load("minilm", device="cpu", backend=backend, threads=args.threads)
        row = {
            "backend": backend,
            "ran": encoder.backend.name,
            "stsb_spearman": evaluate_sts(encoder, sts).main_score,
            # No embedding cache: a cached corpus would hide a backend that changed.
            "scifact_ndcg10": evaluate_retrieval(encoder, scifact, RetrievalConfig(use_cache=False)).main_score,
        }
        print(row, flush=True)
        rows.append(row)
    reference = rows[0]
    for row in rows:
        row["within_bound"] = all(
            100 * (reference[key] - row[key]) <= QUALITY_BOUND for key in ("stsb_spearman", "scifact_ndcg10")
        )
    run = {"measured_at": measured_at(), "cpu": as_dict(cpu_info()), "bound_points": QUALITY_BOUND,
           "backends": args.backends, "rows": rows}
    store = load_store(args.out / "backend_quality.json")
    store["classes"][cpu_class(cpu_info())] = run
    lines = [
        "# Backend quality: STS-B and SciFact against fp32",
        "",
        (
            "One section per CPU class, each from one run of `python benchmarks/backend_quality.py`: "
            "all-MiniLM-L6-v2, STS-B test (1,379 pairs) Spearman and SciFact test nDCG@10, x100; within bound = no "
            f"more than {QUALITY_BOUND} points below the first backend (torch fp32) on either. int8 kernels differ "
            "between CPUs (with VNNI or without), and so may the scores."
        ),
        "",
    ]
    for key in sorted(store["classes"]):
        lines += section(key, store["classes"][key])
    print(write_report(args.out, "backend_quality", store, "\n".join(lines)))


def section(key: str, run: dict) -> list[str]:
    lines = [f"## CPU class {key}", "", recorded_header(run["cpu"]), "",
             f"Run {run['measured_at']} with `--backends {run['backends']}`.", "",
             "| backend | STS-B | SciFact nDCG@10 | within bound |", "|---|---:|---:|---|"]
    for row in run["rows"]:
        lines.append(
            f"| {row['backend']} | {100 * row['stsb_spearman']:.2f} | {100 * row['scifact_ndcg10']:.2f} | "
            f"{'yes' if row['within_bound'] else 'no'} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
