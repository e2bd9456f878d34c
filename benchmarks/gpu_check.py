"""GPU check: training losses, encode parity and throughput on a GPU against the CPU, written as a report.

Run from the repository root on a machine with a CUDA GPU (no model hub, no data root, no embedlab install):

    PYTHONPATH=src python benchmarks/gpu_check.py --model MODEL_DIR --data PAIRS.jsonl [--out docs/benchmarks]

--model is a sentence-transformers directory, --data a JSONL of pairs (anchor/positive, or sentence1/sentence2/
label). It needs torch, transformers, tokenizers, safetensors, numpy, scipy and rich; sentence-transformers is
compared when present. Exit codes: 0 every check passed, 1 a check failed, 2 nothing checked (no GPU, or a
missing package: the one line printed says which). `--device cpu` runs the same comparisons CPU against CPU,
which shows what bf16 alone costs and smoke-tests the script without a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from contextlib import nullcontext
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from unittest import mock

from timing import timed

NEEDED = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "rich")
ROOT = Path(__file__).resolve().parents[1]
# Temperature 0.5, not training's usual 0.05: on paraphrase pairs a trained model's loss at 0.05 is close to
# zero, where relative differences say nothing; at 0.5 it starts near 1.5 and still falls.
STEPS, TRAIN_BATCH, LEARNING_RATE, TEMPERATURE = 20, 16, 5e-5, 0.5
PARITY_TEXTS, THROUGHPUT_TEXTS = 512, 4096
BATCH = {"cpu": 32, "gpu": 128}  # each device at a batch size it is commonly run with
# Per-step relative loss difference from the CPU fp32 run. fp32 on either device differs only in the order of
# floating-point sums. Half precision rounds every product to 8 (bf16) or 11 (fp16) significant bits; the loss
# averages over many of them, so its own error is much smaller, but the weights drift apart step by step and
# GPU kernels may accumulate in half precision where the CPU's keep fp32.
LOSS_TOLERANCE = {"fp32": 1e-3, "bf16": 1e-2, "fp16": 1e-2}
# Encode parity with the CPU fp32 embeddings: fp32 element-wise (unit vectors), the others by mean cosine at the
# bound their backend is documented with (docs/inference.md); auto is judged by the backend it picked.
FP32_MAX_ABS_DIFF = 1e-4
MEAN_COSINE = {"torch": 0.9999, "torch-bf16": 0.999, "torch-fp16": 0.999, "onnx": 0.9999, "onnx-int8": 0.99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="A sentence-transformers model directory.")
    parser.add_argument("--data", required=True, type=Path, help="A JSONL file of text pairs.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks", help="Where gpu_check.{json,md} go.")
    parser.add_argument("--device", default="cuda", help="The device checked against the CPU (default cuda).")
    args = parser.parse_args()
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        print(f"nothing checked: missing {', '.join(missing)} (PYTHONPATH=src plus these packages is all it needs)")
        return 2
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no GPU: nothing checked")
        return 2
    report = run_checks(args.model, args.data, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["passed"] else 1


def run_checks(model: Path, data: Path, device: str) -> dict:
    import torch

    from embedlab.data.training_sets import load_training_set
    from embedlab.hardware import cpu_info, gpu_has_bf16, report_header
    from embedlab.models.devices import select_device

    target = select_device(device)
    pairs = load_training_set(str(data), "pairs")
    texts = [t for pair in zip(pairs.columns["anchor"], pairs.columns["positive"]) for t in pair]
    on_gpu = target.type == "cuda"
    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name(target) if on_gpu else str(target),
        "gpu_bf16": gpu_has_bf16() if on_gpu else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": report_header(cpu_info()),
        "model": str(model),
        "data": f"{data.name}: {len(pairs)} pairs",
        "training": training_checks(model, pairs, target),
        "encode": encode_checks(model, texts[:PARITY_TEXTS], target),
        "throughput": throughput(
            model, (texts * (THROUGHPUT_TEXTS // max(1, len(texts)) + 1))[:THROUGHPUT_TEXTS], target
        ),
    }
    report["passed"] = all(row.get("passed", True) for part in ("training", "encode") for row in report[part])
    return report


def training_checks(model: Path, pairs, target) -> list[dict]:
    """STEPS InfoNCE steps from one seed on the CPU in fp32, then on the device in each precision it offers."""
    from embedlab.hardware import gpu_has_bf16

    reference = train_losses(model, pairs, "cpu", bf16=False)
    rows = [{"run": "cpu fp32", "precision": "fp32", "losses": reference}]
    runs = [("fp32", False, False)]
    if target.type != "cuda" or gpu_has_bf16():
        runs.append(("bf16", True, False))
    if target.type == "cuda":
        runs.append(("fp16", True, True))  # forced on a bf16 GPU too, so the GradScaler path runs somewhere
    for name, bf16, force_fp16 in runs:
        with (
            mock.patch("embedlab.training.precision.gpu_has_bf16", return_value=False) if force_fp16 else nullcontext()
        ):
            losses, chosen = train_losses(model, pairs, target, bf16=bf16), _precision(target, bf16)
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses, reference))
        rows.append({"run": f"{target} {name}", "precision": chosen, "losses": losses, "max_relative_diff": worst,
                     "tolerance": LOSS_TOLERANCE[name], "passed": worst <= LOSS_TOLERANCE[name]})
    return rows


def train_losses(model: Path, pairs, device, bf16: bool) -> list[float]:
    """The per-step losses of a short run; dropout is off so that both devices compute the same function."""
    print(f"training on {device}, bf16={bf16}", file=sys.stderr, flush=True)
    from torch import nn

    from embedlab import Encoder
    from embedlab.data.batch_sampling import MixtureSampler
    from embedlab.losses import InfoNCELoss
    from embedlab.training.config import TrainConfig
    from embedlab.training.trainer import Trainer, seed_everything

    encoder = Encoder.load(model, device=str(device))
    for module in encoder.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    with tempfile.TemporaryDirectory() as work:
        config = TrainConfig(data=[], output_dir=work, max_steps=STEPS, batch_size=TRAIN_BATCH,
                             learning_rate=LEARNING_RATE, bf16=bf16, eval_every=10**6, checkpoint_every=10**6, seed=0)
        seed_everything(config.seed)
        batches = MixtureSampler([pairs], config.batch_size, seed=config.seed)
        loss = InfoNCELoss(temperature=TEMPERATURE).to(encoder.device)
        return Trainer(config, encoder, loss, batches).train(resume=False).losses


def _precision(target, bf16: bool) -> str:
    """What the Trainer chose, as text: the same call it makes."""
    from embedlab.training.precision import training_precision

    chosen = training_precision(target, bf16)
    dtype = str(chosen.dtype).removeprefix("torch.") if chosen.dtype else "fp32"
    return f"{chosen.device_type} {dtype}" + (" + GradScaler" if chosen.scaled else "")


def encode_checks(model: Path, texts: list[str], target) -> list[dict]:
    """The device's embeddings against the CPU's fp32 ones: fp32 (moved there by encode(device=)) and half precision."""
    import numpy as np

    from embedlab import EmbedlabError, Encoder

    encoder = Encoder.load(model, device="cpu")
    reference = encoder.encode(texts)
    moved = encoder.encode(texts, device=str(target))  # moves the model there for good
    print(f"encode parity on {target}", file=sys.stderr, flush=True)
    rows = [{"run": f"{target} torch (encode(device=))", "max_abs_diff": float(np.abs(moved - reference).max()),
             "tolerance": FP32_MAX_ABS_DIFF, "passed": bool(np.abs(moved - reference).max() <= FP32_MAX_ABS_DIFF)}]
    if importlib.util.find_spec("sentence_transformers"):
        from sentence_transformers import SentenceTransformer

        # float(): recent releases keep a checkpoint's own dtype, and a model copied with fp16 weights would stay so.
        theirs = SentenceTransformer(str(model), device=str(target)).float().encode(texts, convert_to_numpy=True)
        rows.append({"run": f"{target} sentence-transformers vs embedlab",
                     "max_abs_diff": float(np.abs(theirs - moved).max()),
                     "tolerance": FP32_MAX_ABS_DIFF, "passed": bool(np.abs(theirs - moved).max() <= FP32_MAX_ABS_DIFF)})
    for backend in ("torch-bf16", "torch-fp16", "auto"):
        try:
            encoder = Encoder.load(model, device=str(target), backend=backend)
        except EmbedlabError as err:
            rows.append({"run": f"{target} {backend}", "refused": str(err)})
            continue
        half = encoder.encode(texts)
        cosines = (half * reference).sum(axis=1) / (np.linalg.norm(half, axis=1) * np.linalg.norm(reference, axis=1))
        bound = MEAN_COSINE[encoder.backend.name]
        rows.append({"run": f"{target} {backend} ({encoder.backend.name})", "mean_cosine": float(cosines.mean()),
                     "min_cosine": float(cosines.min()), "tolerance": bound, "passed": bool(cosines.mean() >= bound)})
    return rows


def throughput(model: Path, texts: list[str], target) -> list[dict]:
    """Sentences per second of each backend on the CPU and on the device, after one warm-up batch."""
    from embedlab import EmbedlabError, Encoder

    rows = []
    for device in dict.fromkeys(["cpu", str(target)]):
        batch = BATCH["gpu" if device.startswith("cuda") else "cpu"]
        for backend in ("torch", "torch-bf16", "torch-fp16", "auto"):
            try:
                encoder = Encoder.load(model, device=device, backend=backend)
            except EmbedlabError as err:
                rows.append({"device": device, "backend": backend, "refused": str(err)})
                continue
            print(f"throughput of {backend} on {device}", file=sys.stderr, flush=True)
            encoder.encode(texts[:batch], batch_size=batch)
            seconds, _, _ = timed(partial(encoder.encode, batch_size=batch), texts, min_seconds=1.0)
            rows.append({"device": device, "backend": backend, "runs": encoder.backend.name, "batch_size": batch,
                         "sentences_per_second": round(len(texts) / seconds, 1)})
    return rows


def markdown(report: dict) -> str:
    lines = [
        f"# GPU check: {report['device']}", "",
        f"- **Date:** {report['date']}; torch {report['torch']}, CUDA {report['cuda']}; GPU bf16: {report['gpu_bf16']}",
        report["cpu"],
        f"- **Model:** {report['model']}; **data:** {report['data']}",
        f"- **Result:** {'every check passed' if report['passed'] else 'A CHECK FAILED'}", "",
        (f"## Training: {STEPS} InfoNCE steps (batch {TRAIN_BATCH}, lr {LEARNING_RATE}, temperature {TEMPERATURE}, "
         "dropout off) against the CPU's fp32 losses"), "",
        "| run | precision | first loss | last loss | max relative diff | tolerance | passed |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["training"]:
        lines.append(f"| {row['run']} | {row['precision']} | {row['losses'][0]:.4f} | {row['losses'][-1]:.4f} | "
                     f"{_figure(row, 'max_relative_diff', '.2e') or 'reference'} | {row.get('tolerance', '')} | "
                     f"{row.get('passed', '')} |")
    lines += ["", "## Encode parity with the CPU's fp32 embeddings", "",
              "| run | max abs diff | mean cosine | min cosine | tolerance | passed |", "|---|---|---|---|---|---|"]
    for row in report["encode"]:
        if "refused" in row:
            lines.append(f"| {row['run']} | refused: {row['refused']} | | | | |")
            continue
        lines.append(f"| {row['run']} | {_figure(row, 'max_abs_diff', '.2e')} | {_figure(row, 'mean_cosine', '.6f')} | "
                     f"{_figure(row, 'min_cosine', '.6f')} | {row['tolerance']} | {row['passed']} |")
    lines += ["", "## Throughput (sentences/s)", "",
              "| device | backend | runs as | batch | sentences/s |", "|---|---|---|---|---|"]
    for row in report["throughput"]:
        if "refused" in row:
            lines.append(f"| {row['device']} | {row['backend']} | refused: {row['refused']} | | |")
        else:
            lines.append(f"| {row['device']} | {row['backend']} | {row['runs']} | {row['batch_size']} | "
                         f"{row['sentences_per_second']} |")
    return "\n".join(lines) + "\n"


def _figure(row: dict, key: str, spec: str) -> str:
    return format(row[key], spec) if key in row else ""


if __name__ == "__main__":
    sys.exit(main())
