"""`embedlab train CONFIG`: contrastive training from a config file."""

from __future__ import annotations

from pathlib import Path

import typer

from embedlab.cli.common import console
from embedlab.cli.outputs import output_folder


def train(
    config: Path = typer.Argument(..., help="A .yaml or .toml training config (see docs/training.md)."),
    output_dir: str | None = typer.Option(None, help="Override the config's output_dir.", callback=output_folder),
    max_steps: int | None = typer.Option(None, help="Override the config's max_steps."),
    seed: int | None = typer.Option(None, help="Override the config's seed."),
    device: str | None = typer.Option(None, help="Override the config's device: cpu, cuda, cuda:N or mps."),
    resume: bool = typer.Option(True, help="Continue from output_dir/checkpoint when one exists."),
) -> None:
    """Train a sentence encoder as a config file describes; run under torchrun for several processes."""
    from embedlab.training.build import train as run_training
    from embedlab.training.config import load_config

    settings = load_config(config, output_dir=output_dir, max_steps=max_steps, seed=seed, device=device)
    output_folder(settings.output_dir)  # the config's own output_dir, checked before training rather than at the save
    report = run_training(settings, resume=resume)
    tail = report.losses[-20:]
    console.print(
        f"trained {report.steps} steps in {report.seconds:.0f} s; mean loss of the last {len(tail)} steps "
        f"{sum(tail) / max(1, len(tail)):.4f}; best eval {report.best_score}; models in {report.output_dir}"
    )

