"""What every `embedlab` subcommand shares: consoles, the model option, result tables."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from embedlab.cli.outputs import output_file
from embedlab.evaluation.result import EvalResult

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # one message, one line, however long

MODEL_HELP = (
    "Model: a sentence-transformers or Hugging Face directory, a hub id, 'minilm' (bundled), "
    "'glove' or a GloVe .txt(.gz) file."
)
ModelOption = typer.Option("minilm", "--model", "-m", help=MODEL_HELP)
JsonOption = typer.Option(
    None, "--json", help="Also write the metrics (fractions 0-1) and settings to this JSON file.", callback=output_file
)
BatchOption = typer.Option(32, "--batch-size", help="Texts per forward pass.")
TaskOption = typer.Option(
    None,
    "--task",
    help="The search task queries are encoded for, for instruction-tuned models (Qwen3-Embedding, e5-mistral): "
    "it fills the model's instruction template, by default 'Instruct: {task}\\nQuery: '. Documents never get it.",
)


def shorten(text: str, chars: int) -> str:
    """The text as it fits a table cell of `chars` characters: cut with an ellipsis when longer."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def show_result(result: EvalResult, json_path: Path | None = None) -> None:
    """Print a result's metrics as a table (scores x100, thresholds as they are) and optionally save JSON."""
    table = Table(title=f"{result.task}: {result.model} on {result.dataset}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        shown = f"{value:.4f}" if "threshold" in key else f"{100 * value:.2f}"
        table.add_row(f"[bold]{key}[/bold]" if key == result.main_metric else key, shown)
    console.print(table)
    if json_path is not None:
        result.save_json(json_path)
        console.print(f"wrote {json_path}")
