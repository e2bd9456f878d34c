"""Training experiments: raw MLM BERT vs contrastively trained, CoSENT on STS-B, Matryoshka dims.

Each experiment writes docs/benchmarks/training_<name>.json; `report` gathers them into docs/results.md (its own
section).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from common import REPORTS, ROOT, measured_at, recorded_header
from results_page import write_section

from embedlab import Encoder
from embedlab.atomic import atomic_path, write_json
from embedlab.data import dataset_path
from embedlab.data.labeled import read_scored_pairs
from embedlab.data.training_sets import load_training_set
from embedlab.evaluation.diagnostics import anisotropy
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import as_dict, cpu_info
from embedlab.losses.cached_infonce import CachedInfoNCELoss
from embedlab.losses.infonce import InfoNCELoss
from embedlab.training.build import train
from embedlab.training.config import TrainConfig, load_config

RESULTS = REPORTS
CONFIGS = ROOT / "benchmarks" / "configs"
MATRYOSHKA_DIMS = (384, 256, 128, 64, 32)
PLOT = RESULTS / "training_temperature_batch.png"


class Truncated:
    """A model whose vectors are cut to the first `dim` dimensions and re-normalised."""

    def __init__(self, model: Encoder, dim: int) -> None:
        self.model, self.dim, self.name = model, dim, f"{model.name}@{dim}"

    def encode(self, texts, **kwargs):
        return self.model.encode(texts, dim=self.dim, **kwargs)


def sts_test(model) -> dict:
    """STS-B test Spearman and the anisotropy of the test sentences, as fractions."""
    path = dataset_path("sts", "stsb", "test.jsonl")
    pairs = read_scored_pairs(path)
    sentences = sorted(set(pairs.sentence1) | set(pairs.sentence2))
    return {"spearman": evaluate_sts(model, pairs).main_score, "anisotropy": anisotropy(model.encode(sentences))}


def run_summary(name: str, edit: Callable[[TrainConfig], None] | None = None, reuse: bool = False,
                **overrides) -> dict:
    """Train from benchmarks/configs/<name>.yaml (changed by `edit`) and summarise the run; with `reuse`, a run
    that already finished in the same output_dir with the same config is summarised from its report instead."""
    config = load_config(CONFIGS / f"{name}.yaml", **overrides)
    if edit is not None:
        edit(config)
    saved = Path(config.output_dir) / "train_report.json"
    if reuse and saved.is_file():
        report = json.loads(saved.read_text())
        if report["config"] == config.to_dict() and report["steps"] == report["total_steps"]:
            chosen = Path(config.output_dir) / ("best" if report["best_score"] is not None else "final")
            return {"config": report["config"], "steps": report["steps"], "seconds": report["seconds"],
                    "dev": report["evaluations"], "model": str(chosen), "reused": True}
    start = time.perf_counter()
    report = train(config, resume=False)
    chosen = Path(config.output_dir) / ("best" if report.best_score is not None else "final")
    return {"config": config.to_dict(), "steps": report.steps, "seconds": time.perf_counter() - start,
            "dev": report.evaluations, "model": str(chosen)}


def run_config(name: str, edit: Callable[[TrainConfig], None] | None = None, **overrides) -> tuple[Encoder, dict]:
    """Train from benchmarks/configs/<name>.yaml (changed by `edit`); the best (or final) model and a summary."""
    summary = run_summary(name, edit, **overrides)
    return Encoder.load(summary["model"]), summary


def cosent() -> dict:
    """Experiment 4: all-MiniLM-L6-v2 fine-tuned on STS-B train with CoSENT (goal: test 82.0 -> >= 84.5)."""
    before = sts_test(Encoder.load("minilm"))
    model, summary = run_config("stsb_cosent")
    return {"before": before, "after": sts_test(model), "training": summary}


def sts_by_dim(model: Encoder) -> dict[int, float]:
    """STS-B test Spearman of the model truncated to each Matryoshka width."""
    pairs = read_scored_pairs(dataset_path("sts", "stsb", "test.jsonl"))
    return {dim: evaluate_sts(Truncated(model, dim), pairs).main_score for dim in MATRYOSHKA_DIMS}


def matryoshka() -> dict:
    """Experiment 5: Matryoshka-trained vs original all-MiniLM-L6-v2, both truncated to 384..32 dims."""
    original = sts_by_dim(Encoder.load("minilm"))
    model, summary = run_config("stsb_matryoshka")
    trained = sts_by_dim(model)
    rows = [{"dim": dim, "original": original[dim], "matryoshka": trained[dim]} for dim in MATRYOSHKA_DIMS]
    return {"rows": rows, "training": summary}


def cosent_truncated() -> dict:
    """Control for experiment 5: experiment 4's plain CoSENT model truncated the same way (Matryoshka's own share)."""
    chosen = Path(load_config(CONFIGS / "stsb_cosent.yaml").output_dir) / "best"
    if not chosen.is_dir():
        raise SystemExit(f"{chosen} is missing: run `python benchmarks/training_experiments.py cosent` first")
    return {
        "model": str(chosen),
        "by_dim": {str(dim): score for dim, score in sts_by_dim(Encoder.load(chosen)).items()},
    }


def raw_vs_trained(pretrained: str) -> dict:
    """Experiment 1: our MLM-pretrained BERT with CLS/mean/max pooling, then after contrastive training."""
    raw = {strategy: sts_test(Encoder.load(pretrained, pooling=strategy)) for strategy in ("cls", "mean", "max")}
    model, summary = run_config("mlm_contrastive", model=pretrained)
    return {"pretrained": pretrained, "raw": raw, "trained_mean": sts_test(model), "training": summary}


def nli_only(config: TrainConfig) -> None:
    """Ablations train on the NLI triplets alone (as SBERT's did): one epoch takes minutes, not hours."""
    config.data = [spec for spec in config.data if spec.path.startswith("nli/")]


def dev_score(summary: dict) -> float:
    return max(e["spearman"] for e in summary["dev"])


def pooling_ablation(pretrained: str) -> dict:
    """Experiment 2 (SBERT Table 6 style): the same pretrained start, trained with each pooling; STS-B dev."""
    rows = []
    for strategy in ("mean", "max", "cls", "attention"):
        _, summary = run_config("mlm_contrastive", edit=nli_only, model=pretrained, pooling=strategy, epochs=1,
                                output_dir=f"runs/ablation-pooling-{strategy}")
        rows.append({"pooling": strategy, "dev_spearman": dev_score(summary), "seconds": summary["seconds"]})
    return {"pretrained": pretrained, "rows": rows}


def temperature_and_batch(pretrained: str) -> dict:
    """Experiment 3: temperature, and batch size through the cached loss, vs STS-B dev; time per step too.

    Each finished run is kept (runs/ablation-*/) and the partial result written after it, so a stopped
    experiment resumes where it was.
    """
    result: dict = {"pretrained": pretrained, "pretraining": pretraining_summary(pretrained),
                    "cpu": as_dict(cpu_info()), "temperature": [], "batch_size": []}
    for t in (0.01, 0.05, 0.1, 1.0):
        summary = run_summary("mlm_contrastive", edit=lambda c, t=t: (nli_only(c), setattr(c.loss, "temperature", t)),
                              reuse=True, model=pretrained, epochs=1, output_dir=f"runs/ablation-temperature-{t}")
        result["temperature"].append(
            {"temperature": t, "dev_spearman": dev_score(summary), "seconds": summary["seconds"]}
        )
        write_json(result, RESULTS / "training_temperature_and_batch.partial.json")
    # Batch 128 once, with the cached loss: it gives the plain loss's gradients (tests/test_cached_infonce.py), and
    # what it costs in time is measured apart below.
    for size, loss in ((8, "infonce"), (32, "infonce"), (128, "cached_infonce"), (512, "cached_infonce")):
        # One epoch means fewer steps for bigger batches; square-root learning-rate scaling keeps that fair.
        summary = run_summary("mlm_contrastive", edit=lambda c, loss=loss: (nli_only(c), setattr(c.loss, "name", loss)),
                              reuse=True, model=pretrained, epochs=1, batch_size=size,
                              learning_rate=1e-4 * (size / 64) ** 0.5, output_dir=f"runs/ablation-batch-{size}-{loss}")
        result["batch_size"].append({"batch_size": size, "loss": loss, "dev_spearman": dev_score(summary),
                                     "steps": summary["steps"], "seconds": summary["seconds"]})
        write_json(result, RESULTS / "training_temperature_and_batch.partial.json")
    result["cached_cost"] = cached_cost(pretrained)
    (RESULTS / "training_temperature_and_batch.partial.json").unlink(missing_ok=True)
    return result


def pretraining_summary(pretrained: str) -> dict | None:
    """How the start model was pretrained (its pretrain_report.json), since runs of different sessions differ."""
    path = Path(pretrained) / "pretrain_report.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    return {"steps": report["steps"], "minutes": report["train_minutes"], "cpu": report["cpu"],
            "threads": report["torch_threads"], "held_out": report["held_out"]}


def cached_cost(pretrained: str, batch_size: int = 128, mini_batch_size: int = 32, repeats: int = 5) -> dict:
    """Seconds per forward+backward of plain vs cached InfoNCE on the same batch, alternated so noise hits both."""
    model = Encoder.load(pretrained)
    model.train()
    rows = load_training_set("nli/train.jsonl.gz", limit=batch_size)
    batch = {"anchor": rows.columns["anchor"], "positive": rows.columns["positive"]}
    losses = {"infonce": InfoNCELoss(), "cached_infonce": CachedInfoNCELoss(mini_batch_size=mini_batch_size)}
    times: dict[str, list[float]] = {name: [] for name in losses}
    for repeat in range(repeats + 1):
        for name, loss in losses.items():
            model.zero_grad()
            start = time.perf_counter()
            loss(model, batch).backward()
            if repeat:  # the first round warms up allocators and kernels
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    return {"batch_size": batch_size, "mini_batch_size": mini_batch_size, "repeats": repeats, "seconds": times,
            "median_seconds": median, "ratio": median["cached_infonce"] / median["infonce"]}


def plot_temperature_and_batch(result: dict, path: Path) -> Path:
    """Two panels: STS-B dev vs temperature, and vs batch size (plain and cached loss marked apart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    temps = result["temperature"]
    left.plot([r["temperature"] for r in temps], [100 * r["dev_spearman"] for r in temps], "o-")
    left.set(xscale="log", xlabel="temperature", ylabel="STS-B dev Spearman x100", title="Temperature (batch 64)")
    for loss, marker in (("infonce", "o-"), ("cached_infonce", "s--")):
        rows = [r for r in result["batch_size"] if r["loss"] == loss]
        right.plot([r["batch_size"] for r in rows], [100 * r["dev_spearman"] for r in rows], marker, label=loss)
    right.set(xscale="log", xlabel="batch size", title="Batch size (1 epoch, temperature 0.05, lr ~ sqrt(batch))")
    right.legend()
    figure.tight_layout()
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=120)
    plt.close(figure)
    return path


EXPERIMENTS = {
    "cosent": cosent,
    "matryoshka": matryoshka,
    "cosent_truncated": cosent_truncated,
    "raw_vs_trained": raw_vs_trained,
    "pooling_ablation": pooling_ablation,
    "temperature_and_batch": temperature_and_batch,
}
NEEDS_PRETRAINED = ("raw_vs_trained", "pooling_ablation", "temperature_and_batch")


def ran_on(result: dict) -> list[str]:
    """The header lines naming the CPU an experiment ran on, then a blank line."""
    return [recorded_header(result["cpu"]), ""] if "cpu" in result else []


def report() -> str:
    """The training section of docs/results.md, from whichever experiment JSON files exist."""
    found = {name: json.loads((RESULTS / f"training_{name}.json").read_text())
             for name in EXPERIMENTS if (RESULTS / f"training_{name}.json").exists()}
    partial = RESULTS / "training_temperature_and_batch.partial.json"
    if "temperature_and_batch" not in found and partial.exists():
        found["temperature_and_batch"] = json.loads(partial.read_text())
    lines = [
        "## Training experiments",
        "",
        "Every number below was measured on a CPU (no GPU) by `python benchmarks/training_experiments.py NAME`;",
        "each experiment names the CPU it ran on. STS-B figures are Spearman x100 on the test split unless marked dev.",
        "",
    ]
    if "raw_vs_trained" in found:
        r = found["raw_vs_trained"]
        lines += [
            "### 1. Raw MLM BERT vs contrastively trained",
            "",
            *ran_on(r),
            f"Model: `{r['pretrained']}`, pretrained from scratch by `embedlab pretrain` (see docs/pretraining.md).",
            "",
            "| model | pooling | STS-B test | anisotropy |",
            "|---|---|---:|---:|",
        ]
        lines += [f"| raw MLM | {p} | {100 * v['spearman']:.2f} | {v['anisotropy']:.3f} |" for p, v in r["raw"].items()]
        t = r["trained_mean"]
        lines += [
            (
                f"| + contrastive (InfoNCE: NLI triplets, MRPC positives, SimCSE) | mean | {100 * t['spearman']:.2f} | "
                f"{t['anisotropy']:.3f} |"
            ),
            "| (averaged GloVe 6B-50d, above) | mean | 41.30 | 0.788 |",
            "",
            f"Training: {r['training']['steps']} steps, {r['training']['seconds'] / 60:.1f} min.",
            "",
        ]
    if "pooling_ablation" in found:
        r = found["pooling_ablation"]
        lines += ["### 2. Pooling ablation (same pretrained start, 1 epoch of NLI triplets, STS-B dev)", "", *ran_on(r),
                  "| pooling | STS-B dev | minutes |", "|---|---:|---:|"]
        lines += [
            f"| {row['pooling']} | {100 * row['dev_spearman']:.2f} | {row['seconds'] / 60:.1f} |" for row in r["rows"]
        ]
        lines.append("")
    if "temperature_and_batch" in found:
        r = found["temperature_and_batch"]
        lines += ["### 3. Temperature and batch size (1 epoch of NLI triplets, STS-B dev)", "", *ran_on(r)]
        p = r.get("pretraining")
        if p:
            lines += [
                (
                    f"Start: `{r['pretrained']}` from a separate `embedlab pretrain` run ({p['steps']} steps, "
                    f"{p['minutes']:.0f} min on {p['threads']} thread of a shared CPU; held-out MLM accuracy "
                    f"{p['held_out']['mlm_accuracy']:.3f}), weaker than experiment 1's, so compare rows within this "
                    "table only."
                ),
                "",
            ]
        lines += ["| temperature | STS-B dev |", "|---:|---:|"]
        lines += [f"| {row['temperature']} | {100 * row['dev_spearman']:.2f} |" for row in r["temperature"]]
        lines += [
            "",
            (
                "Batch sizes: one epoch each, learning rate 1e-4 x sqrt(batch / 64), so fewer, larger steps stay "
                "comparable."
            ),
            "",
            "| batch size | loss | STS-B dev | steps | seconds per step |",
            "|---:|---|---:|---:|---:|",
        ]
        lines += [f"| {row['batch_size']} | {row['loss']} | {100 * row['dev_spearman']:.2f} | {row['steps']} | "
                  f"{row['seconds'] / row['steps']:.2f} |" for row in r["batch_size"]]
        c = r.get("cached_cost")
        if c is None:
            lines += [
                "",
                (
                    "Partial: the runs not listed and the cached-loss timing are still to do (`python "
                    "benchmarks/training_experiments.py temperature_and_batch` resumes)."
                ),
                "",
            ]
        else:
            lines += [
                "",
                f"![STS-B dev vs temperature and batch size]({PLOT.relative_to(ROOT / 'docs').as_posix()})",
                "",
                (
                    f"Cached loss cost, measured on one batch of {c['batch_size']} NLI pairs (mini-batches of "
                    f"{c['mini_batch_size']}), forward + backward alternated {c['repeats']} times: plain "
                    f"{c['median_seconds']['infonce']:.2f} s, cached {c['median_seconds']['cached_infonce']:.2f} s, "
                    f"**{c['ratio']:.2f}x** (sentence-transformers reports 2-2.4x for its cached loss)."
                ),
                "",
            ]
    if "cosent" in found:
        r = found["cosent"]
        lines += [
            "### 4. CoSENT fine-tuning of all-MiniLM-L6-v2 on STS-B train",
            "",
            *ran_on(r),
            "| model | STS-B test | anisotropy |",
            "|---|---:|---:|",
            f"| all-MiniLM-L6-v2 | {100 * r['before']['spearman']:.2f} | {r['before']['anisotropy']:.3f} |",
            (
                f"| + CoSENT, STS-B train (best of STS-B dev) | {100 * r['after']['spearman']:.2f} | "
                f"{r['after']['anisotropy']:.3f} |"
            ),
            "",
            f"Training: {r['training']['steps']} steps, {r['training']['seconds'] / 60:.1f} min; dev checks: "
            + ", ".join(f"step {e['step']} {100 * e['spearman']:.2f}" for e in r["training"]["dev"]),
            "",
        ]
    if "matryoshka" in found:
        r = found["matryoshka"]
        control = found.get("cosent_truncated", {}).get("by_dim")
        lines += [
            "### 5. Matryoshka: quality kept when truncating",
            "",
            *ran_on(r),
            "| dims | all-MiniLM-L6-v2 truncated | + CoSENT (exp. 4), truncated | + Matryoshka CoSENT, truncated |",
            "|---:|---:|---:|---:|",
        ]
        for row in r["rows"]:
            plain = f"{100 * control[str(row['dim'])]:.2f}" if control else "not run"
            lines.append(f"| {row['dim']} | {100 * row['original']:.2f} | {plain} | {100 * row['matryoshka']:.2f} |")
        lines += ["", f"Training: {r['training']['steps']} steps, {r['training']['seconds'] / 60:.1f} min.", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "report"])
    parser.add_argument("--pretrained", default="runs/pretrain/bert-mini-mlm", help="for raw_vs_trained")
    args = parser.parse_args()
    if args.experiment != "report":
        job = EXPERIMENTS[args.experiment]
        result = job(args.pretrained) if args.experiment in NEEDS_PRETRAINED else job()
        result["created"] = measured_at()
        result["cpu"] = as_dict(cpu_info())
        write_json(result, RESULTS / f"training_{args.experiment}.json")
        if args.experiment == "temperature_and_batch":
            plot_temperature_and_batch(result, PLOT)
    write_section("training", report())


if __name__ == "__main__":
    main()
