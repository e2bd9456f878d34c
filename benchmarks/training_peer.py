"""embedlab's whole Trainer beside sentence-transformers' SentenceTransformerTrainer: seconds per step and peak RSS.

Both train all-MiniLM-L6-v2 on the same SciFact train triplets (query, relevant abstract, one BM25 hard negative;
mined once into runs/training_peer/), same batch, max length, precision, threads and AdamW settings (learning rate,
warm-up share, weight decay, clipping), no evaluation and no checkpoints during the run. Pairs: embedlab `infonce`
vs MultipleNegativesRankingLoss, and embedlab `cached_infonce` (GradCache) vs CachedMultipleNegativesRankingLoss at
the same mini-batch size. Every contender trains in a fresh process of its own (peak RSS is that process's VmHWM,
what ru_maxrss reports), `--warmup` steps then `--steps` timed ones, alternated ABBA over `--rounds` so drift in
the machine's load falls on both. Before its first step each process also computes the plain MNRL/InfoNCE loss of
the file's first batch in eval mode: the same model and batch must give the same loss.

    python benchmarks/training_peer.py            # needs runs/st-train-venv (make st-train-venv)

Writes docs/benchmarks/training_peer.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPORTS, ROOT, cpu_class, measured_at, report_heading, write_report

WORK = ROOT / "runs" / "training_peer"
ST_PYTHON = ROOT / "runs" / "st-train-venv" / "bin" / "python"
LOSSES = {"mnrl": ("infonce", "MultipleNegativesRankingLoss"), "cached": ("cached_infonce", "CachedMNRL")}
# The settings both trainers get: embedlab's defaults, which sentence-transformers is told explicitly.
SHARED = {"batch_size": 32, "learning_rate": 2e-5, "warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,
          "seed": 0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--mini-batch-size", type=int, default=8, help="of both cached losses")
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument("--name", default="training_peer", help="the report's file name, without .json/.md")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a JSON request: run as embedlab's child
    return parser.parse_args()


def triplets() -> Path:
    """SciFact train triplets with one BM25 negative each, mined once (the settings of scifact_finetune.py's row)."""
    path = WORK / "scifact-bm25-triplets.jsonl"
    if not path.is_file():
        from embedlab.mining import MiningConfig, load_mining_task, mine, write_triplets

        config = MiningConfig(source="bm25", count=1, window=(3, 30), margin=0.95, sampling="random")
        write_triplets(mine(load_mining_task("scifact", "train"), config), path)
    return path


def model_path() -> str:
    from embedlab.models.names import resolve_model_name

    return str(resolve_model_name("minilm"))


def embedlab_worker(request: dict) -> dict:
    """`embedlab train`'s path (build_trainer from a TrainConfig, then Trainer.train), timed by the step clock."""
    import torch
    from process_memory import memory_mib
    from step_clock import StepClock

    from embedlab.losses import InfoNCELoss
    from embedlab.training.build import build_trainer
    from embedlab.training.config import TrainConfig

    torch.set_num_threads(request["threads"])
    clock = StepClock()
    started = time.perf_counter()
    config = TrainConfig(
        data=[{"path": request["triplets"], "kind": "triplets"}],
        loss={"name": LOSSES[request["loss"]][0], "mini_batch_size": request["mini_batch_size"]},
        model=request["model"], max_seq_length=request["max_seq_length"], output_dir=request["output_dir"],
        epochs=None, max_steps=request["max_steps"], bf16=request["bf16"], eval_data=None, checkpoint_every=None,
        save_best=False, log_seconds=3600.0, **{k: request[k] for k in SHARED},
    )
    trainer = build_trainer(config)
    loaded, load_seconds = memory_mib(), time.perf_counter() - started
    rows = [json.loads(line) for line in Path(request["triplets"]).read_text(encoding="utf-8").splitlines()]
    first = rows[: request["batch_size"]]
    batch = {"anchor": [r["anchor"] for r in first], "positive": [r["positive"] for r in first],
             "negatives": [r["negatives"] for r in first]}
    del rows, first  # the check's own data must not count against the trainer's memory
    trainer.model.eval()
    with torch.no_grad():
        check = float(InfoNCELoss()(trainer.model, batch))
    report = trainer.train(resume=False)
    fused = trainer.optimizer.defaults["fused"]
    return {**clock.result(request["warmup_steps"]), "loaded_mib": loaded, "load_seconds": load_seconds,
            "check_loss": check, "losses": report.losses, "optimizer": f"AdamW (fused={fused})"}


def optimizer_steps(model: str, threads: int, repeats: int = 12) -> dict:
    """AdamW's step alone over the model's parameters, torch's CPU default (a loop per tensor) against the fused
    kernel the Trainer now asks for, interleaved: the share of a training step the optimizer takes."""
    import torch

    from embedlab.models.encoder import Encoder

    torch.set_num_threads(threads)
    optimizers = {}
    for kind, options in (("for-loop (torch's CPU default)", {"foreach": False}), ("fused", {"fused": True})):
        parameters = list(Encoder.load(model).model.parameters())
        for parameter in parameters:
            parameter.grad = torch.full_like(parameter, 1e-3)
        optimizers[kind] = torch.optim.AdamW(parameters, lr=2e-5, weight_decay=0.01, **options)
    seconds: dict[str, list[float]] = {kind: [] for kind in optimizers}
    for _ in range(repeats + 1):  # the first step allocates the moments: not timed
        for kind, optimizer in optimizers.items():
            started = time.perf_counter()
            optimizer.step()
            seconds[kind].append(time.perf_counter() - started)
    return {kind: statistics.median(values[1:]) for kind, values in seconds.items()}


def run_one(side: str, loss: str, precision: str, args: argparse.Namespace, data: Path, model: str) -> dict:
    """One contender's run in a fresh process; returns its measurements and the load average around it."""
    output = WORK / f"{side}-{loss}-{precision}"
    request = {"triplets": str(data), "model": model, "loss": loss, "bf16": precision == "bf16",
               "threads": args.threads, "max_seq_length": args.max_seq_length, "mini_batch_size": args.mini_batch_size,
               "max_steps": args.warmup + args.steps, "warmup_steps": args.warmup, "output_dir": str(output), **SHARED}
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks")])}
    if side == "embedlab":
        command = [sys.executable, __file__, "--worker", json.dumps(request)]
    else:
        command = [str(ST_PYTHON), str(ROOT / "benchmarks" / "st_train_worker.py"), json.dumps(request)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{side} {loss} {precision} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average"] = [load_before, os.getloadavg()[0]]
    return result


def summarise(runs: list[dict]) -> dict:
    """One contender over its runs: the median of every timed step, the worst peak RSS, and the first losses."""
    steps = [s for run in runs for s in run["step_seconds"]]
    return {
        "median_step_seconds": statistics.median(steps),
        "run_medians": [run["median_step_seconds"] for run in runs],
        "median_step_cpu_seconds": statistics.median(s for run in runs for s in run["step_cpu_seconds"]),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "loaded_rss_mib": max(run["loaded_mib"]["rss"] for run in runs),
        "cpu_per_wall": statistics.median(run["cpu_per_wall"] for run in runs),
        "check_loss": runs[0]["check_loss"],
        "first_step_loss": runs[0]["losses"][0],
        "optimizer": runs[0]["optimizer"],
    }


def markdown(result: dict) -> str:
    settings = result["settings"]
    lines = report_heading("Training: embedlab's Trainer beside sentence-transformers' trainer") + [
        f"- **Measured:** {result['measured_at']}; CPU class {result['cpu_class']}",
        (f"- **Load average** before/after each run (1 min): {result['load_range'][0]:.2f} to "
        f"{result['load_range'][1]:.2f} on {os.cpu_count()} CPUs (the runs' own threads count in it: well above the "
        "thread count means other work shared the machine)"),
        "",
        (f"all-MiniLM-L6-v2 on {result['rows']} SciFact train triplets (one BM25 negative each), batch "
        f"{settings['batch_size']}, max length {settings['max_seq_length']}, {settings['threads']} threads, AdamW lr "
        f"{settings['learning_rate']}, warm-up {settings['warmup_ratio']}, weight decay {settings['weight_decay']}, "
        f"clipping {settings['max_grad_norm']}; cached losses at mini-batch {settings['mini_batch_size']}. Each run: "
        f"a fresh process, {settings['warmup']} warm-up steps then {settings['steps']} timed, {settings['rounds']} "
        "rounds ABBA. s/step is the median of all timed steps of all rounds (a step = batch, tokenisation, forward, "
        "backward, clipping, optimizer); peak RSS is the process's VmHWM (= ru_maxrss), worst run."),
        "",
        ("| pair | precision | contender | s/step (median) | per-run medians | CPU s/step | CPU/wall "
        "| RSS loaded MiB | peak RSS MiB | speed vs ST | memory vs ST | first-batch loss (eval) | first step loss |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for pair in result["pairs"]:
        for side in ("embedlab", "sentence-transformers"):
            row = pair[side]
            ratios = ("", "")
            if side == "embedlab":
                ratios = (f"**{pair['speed_ratio']:.2f}x**", f"**{pair['memory_ratio']:.2f}x**")
            medians = ", ".join(f"{m:.2f}" for m in row["run_medians"])
            lines.append(
                f"| {pair['loss']} | {pair['precision']} | {side} ({pair['names'][side]}, {row['optimizer']}) | "
                f"{row['median_step_seconds']:.2f} | {medians} | {row['median_step_cpu_seconds']:.2f} | "
                f"{row['cpu_per_wall']:.2f} | "
                f"{row['loaded_rss_mib']:.0f} | {row['peak_rss_mib']:.0f} | {ratios[0]} | {ratios[1]} | "
                f"{row['check_loss']:.6f} | {row['first_step_loss']:.4f} |"
            )
    lines += [
        "",
        ("Speed vs ST: sentence-transformers' s/step over embedlab's (above 1: embedlab is faster). Memory vs ST: "
        "embedlab's peak RSS over sentence-transformers' (at most 1: no more memory). The first-batch loss is the "
        "plain InfoNCE/MNRL of the file's first batch from the starting model, before any step, in eval mode: it "
        "must agree. First step loss is each trainer's own first training step (its own sampler's batch, dropout "
        "on), so it only has to be close."),
        "",
        "AdamW's step alone over all-MiniLM-L6-v2's parameters, median of interleaved steps in one process: "
        + ", ".join(f"{kind} {value:.3f} s" for kind, value in result["optimizer_step_seconds"].items())
        + ". embedlab's Trainer asks for the fused kernel (sentence-transformers' trainer defaults to it too).",
        "",
        f"Reproduce: `make st-train-venv && python benchmarks/training_peer.py {result['command']}`",
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(embedlab_worker(json.loads(args.worker))))
        return
    if not ST_PYTHON.is_file():
        raise SystemExit(f"{ST_PYTHON} is missing: run `make st-train-venv` first")
    from embedlab.hardware import as_dict, cpu_info

    data, model = triplets(), model_path()
    contenders = [(loss, precision) for precision in args.precisions for loss in args.losses]
    runs: dict[tuple[str, str, str], list[dict]] = {}
    for round_index in range(args.rounds):
        order = ("embedlab", "st") if round_index % 2 == 0 else ("st", "embedlab")
        for loss, precision in contenders:
            for side in order:
                result = run_one(side, loss, precision, args, data, model)
                runs.setdefault((side, loss, precision), []).append(result)
                print(f"round {round_index + 1} {side:8s} {loss:6s} {precision}: {result['median_step_seconds']:.2f} "
                      f"s/step, peak {result['peak_rss_mib']:.0f} MiB, load {result['load_average']}", flush=True)
    pairs = []
    for loss, precision in contenders:
        ours, theirs = summarise(runs[("embedlab", loss, precision)]), summarise(runs[("st", loss, precision)])
        pairs.append({
            "loss": loss, "precision": precision,
            "names": {"embedlab": LOSSES[loss][0], "sentence-transformers": LOSSES[loss][1]},
            "embedlab": ours, "sentence-transformers": theirs,
            "speed_ratio": theirs["median_step_seconds"] / ours["median_step_seconds"],
            "memory_ratio": ours["peak_rss_mib"] / theirs["peak_rss_mib"],
            "check_loss_difference": abs(ours["check_loss"] - theirs["check_loss"]),
        })
    optimizer = optimizer_steps(model, args.threads)
    print(f"AdamW step alone: {optimizer}", flush=True)
    loads = [value for group in runs.values() for run in group for value in run["load_average"]]
    cpu = cpu_info()
    result = {
        "measured_at": measured_at(), "cpu": as_dict(cpu), "cpu_class": cpu_class(cpu),
        "command": " ".join(sys.argv[1:]), "rows": sum(1 for _ in data.open(encoding="utf-8")),
        "settings": {**SHARED, **{k: getattr(args, k) for k in (
            "steps", "warmup", "rounds", "threads", "max_seq_length", "mini_batch_size")}},
        "load_range": [min(loads), max(loads)], "pairs": pairs, "optimizer_step_seconds": optimizer,
        "runs": {"/".join(key): value for key, value in runs.items()},
    }
    print(write_report(args.out, args.name, result, markdown(result)).read_text())


if __name__ == "__main__":
    main()
