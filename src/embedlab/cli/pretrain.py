"""`embedlab pretrain`: masked-language-model pretraining of a small BERT from scratch, with a live bar.

Each option is a PretrainConfig field; `python -m embedlab.cli.pretrain` runs the command on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from embedlab.cli.common import console
from embedlab.training import mlm
from embedlab.training.mlm import REPORT_FILE, PretrainConfig, Status

DEFAULTS = PretrainConfig()


def pretrain(
    out: str = typer.Option(DEFAULTS.out, help="Model directory to write; a checkpoint there is continued."),
    layers: int = typer.Option(DEFAULTS.layers, help="Transformer layers."),
    hidden: int = typer.Option(DEFAULTS.hidden, help="Hidden size (embedding dimension)."),
    heads: int = typer.Option(DEFAULTS.heads, help="Attention heads; must divide the hidden size."),
    intermediate: int = typer.Option(DEFAULTS.intermediate, help="Feed-forward inner size."),
    max_length: int = typer.Option(DEFAULTS.max_length, help="Tokens per window, [CLS] and [SEP] included."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help="Windows per step."),
    learning_rate: float = typer.Option(DEFAULTS.learning_rate, help="Peak AdamW learning rate."),
    warmup_fraction: float = typer.Option(DEFAULTS.warmup_fraction, help="Share of the budget spent warming up."),
    weight_decay: float = typer.Option(DEFAULTS.weight_decay, help="AdamW weight decay (weight matrices only)."),
    mask_prob: float = typer.Option(DEFAULTS.mask_prob, help="Share of tokens picked for prediction."),
    max_minutes: float = typer.Option(DEFAULTS.max_minutes, help="Training-time budget; the run stops cleanly at it."),
    max_steps: int | None = typer.Option(DEFAULTS.max_steps, help="Step budget; the schedule then follows steps."),
    checkpoint_minutes: float = typer.Option(DEFAULTS.checkpoint_minutes, help="Minutes between checkpoints."),
    log_every: int = typer.Option(DEFAULTS.log_every, help="Steps per printed loss line."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed for weights, data order and masks."),
    bf16: bool = typer.Option(DEFAULTS.bf16, help="bf16 autocast: about 2x faster on CPUs with AVX512-BF16 or AMX."),
    threads: int | None = typer.Option(
        DEFAULTS.threads, help="Torch threads (default: torch's); 1 on a busy machine."
    ),
) -> None:
    """Pretrain a small BERT with masked-language modelling on local text, evaluation texts removed."""
    config = PretrainConfig(**locals())  # the parameters are exactly the config's fields (a test checks)
    columns = (
        TextColumn("pretraining"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("step {task.fields[step]}  loss {task.fields[loss]:.3f}  {task.fields[speed]:,.0f} tok/s"),
        TimeElapsedColumn(),
    )
    # The bar and the loss lines go to stderr, so a background run's log is the same text a terminal shows.
    with Progress(*columns, console=Console(stderr=True, soft_wrap=True)) as progress:
        task = progress.add_task("pretraining", total=1.0, step=0, loss=float("nan"), speed=0.0)

        def show(status: Status) -> None:
            progress.update(
                task,
                completed=min(status.fraction, 1.0),
                step=status.step,
                loss=status.loss,
                speed=status.tokens_per_second,
            )
            if status.logged:
                progress.console.print(
                    f"step {status.step}  {status.fraction:6.1%} of budget  loss {status.loss:.4f}  "
                    f"acc {status.accuracy:.3f}  lr {status.learning_rate:.2e}  {status.tokens_per_second:,.0f} tok/s",
                    highlight=False,
                )
            if status.held_out_accuracy is not None:
                progress.console.print(
                    f"checkpoint; held-out MLM accuracy {status.held_out_accuracy:.4f}", highlight=False
                )

        out_dir = mlm.pretrain(config, show)
    _print_summary(out_dir)


def _print_summary(out_dir: Path) -> None:
    report = json.loads((out_dir / REPORT_FILE).read_text(encoding="utf-8"))
    console.print(
        f"wrote {out_dir}: {report['steps']} steps, {report['epochs']:.2f} epochs, {report['train_minutes']:.1f} min; "
        f"loss {report['first_loss']:.3f} -> {report['final_loss']:.3f}; "
        f"held-out MLM accuracy {report['held_out']['mlm_accuracy']:.4f}",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":
    typer.run(pretrain)
