"""What the benchmark scripts share: where reports go, the CPU and time they record, writing them, and the
synthetic texts a benchmark falls back on when the data root is missing.

A report is a pair, `<name>.json` (every number, for re-reading) and `<name>.md` (the table the docs link),
written atomically under docs/benchmarks/ unless a script's --out says otherwise. Reports that keep one run
per CPU class (encode, encode_memory, threads) store them under "classes", keyed by cpu_class.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path

from embedlab.atomic import write_json, write_text
from embedlab.backends.int8 import has_fast_int8
from embedlab.backends.torch_backend import has_native_bf16
from embedlab.data import dataset_path, load_beir
from embedlab.errors import EmbedlabError
from embedlab.hardware import CpuInfo, cpu_info, report_header

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "docs" / "benchmarks"
WORDS = [
    "the", "model", "encodes", "short", "and", "long", "sentences", "into", "vectors", "so", "that", "similar",
    "meanings", "land", "close", "together", "while", "unrelated", "texts", "stay", "apart", "across", "retrieval",
    "clustering", "and", "semantic", "similarity", "benchmarks",
]


def measured_at() -> str:
    """The time stamp every report carries: now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def report_heading(title: str) -> list[str]:
    """The first lines of a markdown report: its title, then the CPU it is being measured on."""
    return [f"# {title}", "", report_header(cpu_info()), ""]


def recorded_header(cpu: dict) -> str:
    """report_header for a CPU recorded in a report's JSON (by embedlab.hardware.as_dict)."""
    return report_header(CpuInfo(**{k: v for k, v in cpu.items() if k != "features"}))


def write_report(out: Path, name: str, result: dict | list, markdown: str) -> Path:
    """Write `result` as `out/<name>.json` and `markdown` as `out/<name>.md`; returns the markdown's path."""
    write_json(result, out / f"{name}.json")
    return write_text(markdown if markdown.endswith("\n") else markdown + "\n", out / f"{name}.md")


def cpu_class(cpu: CpuInfo) -> str:
    """The issue's CPU classes: A has int8 dot products or native bf16, B is AVX2 without them.

    A is split by what decides auto's choice there: AMX tiles, bf16 dot products without AMX, or VNNI alone.
    """
    if cpu.amx_tile:
        return "A: AVX-512 with VNNI/BF16 + AMX"
    if has_native_bf16(cpu):
        return "A: AVX-512 with VNNI/BF16, no AMX"
    if has_fast_int8(cpu):
        return "A: AVX-512 with VNNI, no BF16 or AMX"
    if cpu.avx2:
        return "B: AVX2 + FMA, no VNNI or native bf16"
    return f"other: {cpu.architecture}"


def scifact_test():
    """SciFact's test split (BEIR layout) from the data root; a one-line error when the root lacks it."""
    directory = dataset_path("beir", "scifact")
    if directory is None:
        raise EmbedlabError("SciFact is not under the data root (set EMBEDLAB_DATA)")
    return load_beir(directory, split="test")


def load_store(path: Path) -> dict:
    """The results of every CPU class measured so far (files from before classes existed start afresh)."""
    if path.is_file():
        stored = json.loads(path.read_text())
        if "classes" in stored:
            return stored
    return {"classes": {}}


def synthetic_texts(n: int) -> list[str]:
    """`n` texts of random words, the same every run; a long tail of lengths mixes short and truncated texts."""
    rng = random.Random(0)
    return [" ".join(rng.choices(WORDS, k=rng.choice((6, 12, 20, 40, 120, 300)))) for _ in range(n)]
