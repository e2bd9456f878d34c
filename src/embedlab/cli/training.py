"""`embedlab train CONFIG` and `embedlab pretrain`: the training stages from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from embedlab.cli.common import console


def train(
    config: Path = typer.Argument(..., help="A .yaml or .toml training config (see docs/training.md)."),
    output_dir: Optional[str] = typer.Option(None, help="Override the config's output_dir."),
    max_steps: Optional[int] = typer.Option(None, help="Override the config's max_steps."),
    seed: Optional[int] = typer.Option(None, help="Override the config's seed."),
    resume: bool = typer.Option(True, help="Continue from output_dir/checkpoint when one exists."),
) -> None:
    """Train a sentence encoder as a config file describes; run under torchrun for several processes."""
    from embedlab.training.build import train as run_training
    from embedlab.training.config import load_config

    settings = load_config(config, output_dir=output_dir, max_steps=max_steps, seed=seed)
    report = run_training(settings, resume=resume)
    tail = report.losses[-20:]
    console.print(
        f"trained {report.steps} steps in {report.seconds:.0f} s; mean loss of the last {len(tail)} steps "
        f"{sum(tail) / max(1, len(tail)):.4f}; best eval {report.best_score}; models in {report.output_dir}"
    )


def pretrain(
    out: str = typer.Option("runs/pretrain/bert-mini-mlm", help="Where to save the Hugging Face model directory."),
    layers: int = typer.Option(4, help="Transformer layers."),
    hidden: int = typer.Option(256, help="Hidden size."),
    heads: int = typer.Option(4, help="Attention heads."),
    max_length: int = typer.Option(64, help="Tokens per training window."),
    batch_size: int = typer.Option(128, help="Windows per step."),
    learning_rate: float = typer.Option(5e-4, help="Peak learning rate."),
    max_minutes: float = typer.Option(45.0, help="Time budget; the schedule decays to zero at its end."),
    max_steps: Optional[int] = typer.Option(None, help="Stop after this many steps (whichever comes first)."),
    seed: int = typer.Option(0, help="Seed for initialisation, masking and order."),
) -> None:
    """Masked-language-model pretraining of a small BERT from scratch on the data root's texts."""
    from embedlab.training.mlm import PretrainConfig
    from embedlab.training.mlm import pretrain as run_pretraining

    config = PretrainConfig(out=out, layers=layers, hidden=hidden, heads=heads, intermediate=4 * hidden,
                            max_length=max_length, batch_size=batch_size, learning_rate=learning_rate,
                            max_minutes=max_minutes, max_steps=max_steps, seed=seed)
    console.print(f"saved {run_pretraining(config)}")
