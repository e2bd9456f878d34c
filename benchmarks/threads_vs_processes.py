"""One process with T threads against T worker processes with one thread each, same backend and texts.

Threads share one model and split each matrix product; processes each hold a model and split the corpus.
Writes docs/benchmarks/threads.json + .md, keyed by CPU class like the encode benchmark.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from common import REPORTS, cpu_class, load_store, measured_at, recorded_header, write_report
from encode_throughput import load_texts

from embedlab import Encoder
from embedlab.hardware import as_dict, cpu_info
from embedlab.scale.bulk import BulkConfig, encode_corpus


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="T: threads, or processes")
    parser.add_argument("--copies", type=int, default=3, help="the benchmark texts repeated this many times")
    parser.add_argument("--out", type=Path, default=REPORTS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    texts, source = load_texts(800, 200, 40)
    texts = texts * args.copies
    warnings.filterwarnings("ignore", message=".*longer than max_seq_length.*")
    encoder = Encoder.load("minilm", backend=args.backend, threads=args.threads)
    encoder.encode(texts[:64])
    start = time.perf_counter()
    encoder.encode(texts)
    threaded = time.perf_counter() - start
    config = BulkConfig(backend=args.backend, workers=args.threads, threads_per_worker=1, chunk_size=512)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        encode_corpus(texts[:8], Path(tmp) / "startup", config)  # pool start and model loads only
        startup = time.perf_counter() - start
        start = time.perf_counter()
        encode_corpus(texts, Path(tmp) / "full", config)
        pooled = time.perf_counter() - start
    info = cpu_info()
    run = {
        "date": measured_at(),
        "cpu": as_dict(info),
        "backend": args.backend,
        "texts": len(texts),
        "source": f"{source}, x{args.copies}",
        "one_process_threads": args.threads,
        "one_process_s": threaded,
        "processes": args.threads,
        "processes_s": pooled,
        "processes_startup_s": startup,
    }
    store = load_store(args.out / "threads.json")
    store["classes"][cpu_class(info)] = run
    write_report(args.out, "threads", store, markdown(store))
    print(json.dumps(run, indent=2))


def markdown(store: dict) -> str:
    lines = ["# One process with T threads, or T processes with one thread each", ""]
    for key in sorted(store["classes"]):
        r = store["classes"][key]
        n = r["texts"]
        lines += [
            f"## CPU class {key}",
            "",
            recorded_header(r["cpu"]),
            "",
            f"Run {r['date']}, backend {r['backend']}, {n:,} texts ({r['source']}).",
            "",
            "| setup | seconds | texts/s |",
            "|---|---:|---:|",
            (
                f"| 1 process x {r['one_process_threads']} threads | {r['one_process_s']:.1f} | "
                f"{n / r['one_process_s']:,.0f} |"
            ),
            (
                f"| {r['processes']} processes x 1 thread (pool start and model loads included) | "
                f"{r['processes_s']:.1f} | {n / r['processes_s']:,.0f} |"
            ),
            f"| of which starting the pool and loading the models | {r['processes_startup_s']:.1f} | |",
            "",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
