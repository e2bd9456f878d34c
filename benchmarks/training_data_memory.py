"""Does memory stay flat while training reads a big pair set? RSS over the trainer's batch stream, Parquet vs JSONL.

Writes a synthetic (anchor, positive) set as Parquet and as JSONL (generated in chunks, so writing stays small),
then, each in a fresh child process, loads it the way `embedlab train` does and walks the MixtureSampler's batch
stream (the batches the Trainer would get), sampling RSS as it goes. The Parquet set is memory-mapped: the
process's own (anonymous) memory should stay flat, while the mapped file's pages count as file-backed RSS the
kernel may drop at will. The JSONL set is read into Python lists. Writes docs/benchmarks/training_data_memory.json
and .md; the data files go under runs/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from process_memory import memory_mib

from embedlab.atomic import write_json, write_text
from embedlab.hardware import as_dict, cpu_info, report_header

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 250_000  # rows generated and written at a time
WORDS = np.array([f"w{i:04d}" for i in range(8192)])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the Parquet set")
    parser.add_argument("--jsonl-rows", type=int, default=None, help="rows of the JSONL set (default: --rows)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-batches", type=int, default=20_000, help="stop after this many (0: a full epoch)")
    parser.add_argument("--every", type=int, default=500, help="sample RSS every this many batches")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "training_data_memory", help="where data goes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # set when running as the child
    parser.add_argument("--path", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def phrases(rng: np.random.Generator, words: int, count: int = 4096) -> list[str]:
    """`count` random phrases of `words` pseudo-words, the building blocks of the rows' texts."""
    return [" ".join(choice) for choice in WORDS[rng.integers(0, len(WORDS), (count, words))].tolist()]


def chunk_of_rows(
    rng: np.random.Generator, start: int, count: int, questions: list[str], answers: list[str]
) -> pa.Table:
    """Short random texts: a numbered 4-word question and a 12-word answer (numbers keep every text distinct)."""
    picks = zip(range(start, start + count), rng.integers(0, len(questions), count).tolist(),
                rng.integers(0, len(answers), count).tolist())
    anchors, positives = [], []
    for row, question, answer in picks:
        anchors.append(f"q{row} {questions[question]}?")
        positives.append(f"a{row} {answers[answer]}.")
    return pa.table({"anchor": anchors, "positive": positives})


def write_data(rows: int, jsonl_rows: int, work: Path) -> tuple[Path, Path]:
    """The same rows as Parquet (all `rows`) and as JSONL (the first `jsonl_rows`), written chunk by chunk."""
    work.mkdir(parents=True, exist_ok=True)
    parquet, jsonl = work / "pairs.parquet", work / "jsonl" / "pairs.jsonl"
    jsonl.parent.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    questions, answers = phrases(rng, 4), phrases(rng, 12)
    with pq.ParquetWriter(str(parquet), pa.schema({"anchor": pa.string(), "positive": pa.string()})) as writer, \
            jsonl.open("w", encoding="utf-8") as lines:
        for start in range(0, max(rows, jsonl_rows), CHUNK):
            chunk = chunk_of_rows(rng, start, min(CHUNK, max(rows, jsonl_rows) - start), questions, answers)
            if start < rows:
                writer.write_table(chunk.slice(0, rows - start), row_group_size=CHUNK)
            if start < jsonl_rows:
                pairs = zip(*chunk.slice(0, jsonl_rows - start).to_pydict().values())
                lines.write("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in pairs))
    return parquet, jsonl


def worker(args: argparse.Namespace) -> dict:
    """Load `args.path` as `embedlab train` would and walk its batch stream, sampling memory."""
    from embedlab.data.batch_sampling import MixtureSampler
    from embedlab.data.training_sets import load_training_set

    start = memory_mib()
    began = time.perf_counter()
    dataset = load_training_set(str(args.path), "pairs")
    loaded, load_seconds = memory_mib(), time.perf_counter() - began
    sampler = MixtureSampler([dataset], args.batch_size, seed=0)
    began = time.perf_counter()
    epoch_batches = len(sampler)  # the Trainer asks first, for its schedule
    counted, count_seconds = memory_mib(), time.perf_counter() - began
    limit = min(args.max_batches or epoch_batches, epoch_batches)
    samples, began = [], time.perf_counter()
    for step, batch in enumerate(sampler, start=1):
        assert len(batch["anchor"]) == args.batch_size
        if step % args.every == 0 or step == limit:
            samples.append({"batch": step, **memory_mib()})
        if step == limit:
            break
    end = memory_mib()
    return {"rows": len(dataset), "kind": type(dataset).__name__, "epoch_batches": epoch_batches, "batches": limit,
            "load_seconds": round(load_seconds, 1), "count_seconds": round(count_seconds, 1),
            "iterate_seconds": round(time.perf_counter() - began, 1), "start": start, "loaded": loaded,
            "counted": counted, "end": end, "peak_rss_mib": end["peak"],
            "peak_anon_mib": max(s["anon"] for s in [start, loaded, counted, *samples]),
            "anon_growth_over_batches_mib": samples[-1]["anon"] - samples[0]["anon"], "samples": samples}


def run_child(path: Path, args: argparse.Namespace, cache: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "1", "--path", str(path), "--batch-size", str(args.batch_size),
               "--every", str(args.every), "--max-batches", str(args.max_batches)]
    environment = {**os.environ, "EMBEDLAB_ARROW_CACHE": str(cache)}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(result: dict) -> str:
    lines = [
        "# Training data memory: a memory-mapped Parquet set vs the same rows read from JSONL",
        "",
        report_header(cpu_info()),
        f"- **Date:** {result['date']}",
        "",
        (
            f"Synthetic (anchor, positive) pairs: Parquet {result['parquet_rows']:,} rows "
            f"({result['parquet_mib']:.0f} MiB on disk), JSONL {result['jsonl_rows']:,} rows "
            f"({result['jsonl_mib']:.0f} MiB). Each set is loaded by `load_training_set` in a fresh process and the "
            f"MixtureSampler's batch stream (batch {result['batch_size']}, what the Trainer consumes) is walked; "
            "memory is read from /proc/self/status. *Anonymous* RSS is the process's own memory; *file* RSS is "
            "pages of the memory-mapped Arrow file, page cache the kernel can reclaim under pressure."
        ),
        "",
        "| data | rows | batches walked | load s | count s | walk s | RSS start MiB | anon after load | anon end "
        + "| anon growth over the walk | peak anon | peak RSS (anon + file) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("parquet", "jsonl"):
        run = result[name]
        lines.append(
            f"| {name} ({run['kind']}) | {run['rows']:,} | {run['batches']:,} of {run['epoch_batches']:,} | "
            f"{run['load_seconds']} | {run['count_seconds']} | {run['iterate_seconds']} | {run['start']['rss']:.0f} | "
            f"{run['loaded']['anon']:.0f} | {run['end']['anon']:.0f} | {run['anon_growth_over_batches_mib']:+.0f} | "
            f"{run['peak_anon_mib']:.0f} | {run['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        (
            "The Parquet file is converted once, batch by batch, to an uncompressed Arrow file in the cache "
            f"({result['arrow_cache_mib']:.0f} MiB), which is then mapped; its first load includes that conversion. "
            "`count s` is the pass `len(sampler)` makes for the Trainer's schedule; it touches every row, so "
            "the whole mapped file becomes file-backed RSS. Anonymous RSS after the Parquet load includes allocator "
            "pages kept from that conversion; during the walk it holds the epoch's row permutation (8 bytes a row). "
            "Start RSS is the interpreter with embedlab (and torch) imported."
        ),
        "",
        f"Reproduce: `python benchmarks/training_data_memory.py --rows {result['parquet_rows']} --jsonl-rows "
        + f"{result['jsonl_rows']} --max-batches {result['max_batches']}` (0 walks a full epoch)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    jsonl_rows = args.jsonl_rows or args.rows
    parquet, jsonl = write_data(args.rows, jsonl_rows, args.work)
    cache = args.work / "arrow-cache"
    shutil.rmtree(cache, ignore_errors=True)  # so the Parquet run includes its one-off conversion
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "cpu": as_dict(cpu_info()),
              "batch_size": args.batch_size, "max_batches": args.max_batches, "parquet_rows": args.rows,
              "jsonl_rows": jsonl_rows,
              "parquet_mib": parquet.stat().st_size / 2**20, "jsonl_mib": jsonl.stat().st_size / 2**20}
    for name, path in (("parquet", parquet), ("jsonl", jsonl)):
        print(f"{name}: walking the batch stream in a child process ...", flush=True)
        result[name] = run_child(path, args, cache)
        print(json.dumps({k: v for k, v in result[name].items() if k != "samples"}), flush=True)
    result["arrow_cache_mib"] = sum(p.stat().st_size for p in cache.iterdir()) / 2**20
    write_json(result, args.out / "training_data_memory.json")
    write_text(report(result), args.out / "training_data_memory.md")
    print(report(result))


if __name__ == "__main__":
    main()
