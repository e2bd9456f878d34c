"""`embedlab pretrain`: masked-language-model pretraining of a small BERT from scratch.

Each option is a PretrainConfig field; `python -m embedlab.cli.pretrain` runs the command on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from embedlab.cli.common import console
from embedlab.cli.outputs import output_folder
from embedlab.training import mlm
from embedlab.training.mlm import REPORT_FILE, PretrainConfig

DEFAULTS = PretrainConfig()


def pretrain(
    out: str = typer.Option(
        DEFAULTS.out, help="Model directory to write; a checkpoint there is continued.", callback=output_folder
    ),
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
    log_every: int = typer.Option(DEFAULTS.log_every, help="Steps per loss line and point of the loss curve."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed for weights, data order and masks."),
    bf16: bool = typer.Option(DEFAULTS.bf16, help="bf16 autocast: about 2x faster on CPUs with AVX512-BF16 or AMX."),
    threads: int | None = typer.Option(
        DEFAULTS.threads, help="Torch threads (default: torch's); 1 on a busy machine."
    ),
) -> None:
    """Pretrain a small BERT with masked-language modelling on local text, evaluation texts removed."""
    config = PretrainConfig(**locals())  # the parameters are exactly the config's fields (a test checks)
    # Progress goes to stderr: a bar on a terminal, plain loss lines in a log, so a background run's log keeps it.
    _print_summary(mlm.pretrain(config))


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
