"""The `embedlab` command: one Typer app whose subcommands call the Python API.

Every command is a thin shell over a function you can call yourself; problems print one line, not a traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.atomic import save_array
from embedlab.cli.apps import cluster, dedup
from embedlab.cli.common import MODEL_HELP, BatchOption, ModelOption, console, errors
from embedlab.cli.evaluate import diagnose, eval_app
from embedlab.cli.index import index_app
from embedlab.cli.inference import (
    BackendOption,
    DeviceOption,
    MaxTokensOption,
    ThreadsOption,
    distill,
    export,
    show_backends,
)
from embedlab.cli.mine import mine
from embedlab.cli.outputs import output_file
from embedlab.cli.pretrain import pretrain
from embedlab.cli.rag import rag, synth
from embedlab.cli.serve import serve
from embedlab.cli.training import train
from embedlab.errors import EmbedlabError
from embedlab.models.pooling import STRATEGIES

app = typer.Typer(
    help="Sentence embeddings: encode, compare, train, evaluate and search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
PoolingOption = typer.Option(None, help=f"Pooling strategy, overriding the model's: {', '.join(STRATEGIES)}.")


@app.command()
def info(
    model: str = typer.Argument("minilm", help=MODEL_HELP),
    backends: bool = typer.Option(False, "--backends", help="Show the CPU features, the backends and what auto picks."),
) -> None:
    """Show a model's dimensions, max length, pooling, prompts and parameter count (or, with --backends, the CPU)."""
    from embedlab.models.loading import load_model

    if backends:
        show_backends()
        return
    details = load_model(model).info()
    table = Table(title=f"embedlab model: {model}", show_header=False)
    for key, value in details.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def encode(
    input: Path = typer.Option(..., "--input", "-i", help="Texts: .txt (one per line) or .jsonl (a 'text' field)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the embeddings (.npy, float32, n x d).",
                               callback=output_file),
    model: str = ModelOption,
    pooling: str | None = PoolingOption,
    prompt: str | None = typer.Option(None, help="Prefix added to every text, e.g. 'query: '."),
    task: str | None = typer.Option(
        None, "--task", help="Encode the texts as queries for this search task: the model's instruction prompt "
        "filled with it (instruction-tuned models; see docs/encoding.md). Not with --prompt."
    ),
    dim: int | None = typer.Option(None, help="Keep the first DIM dimensions (Matryoshka) and re-normalise."),
    batch_size: int = BatchOption,
    normalize: bool | None = typer.Option(
        None, "--normalize/--no-normalize", help="Unit-length vectors (default: the model's setting)."
    ),
    field: str = typer.Option("text", help="The jsonl field holding the text."),
    backend: str = BackendOption,
    threads: int | None = ThreadsOption,
    max_tokens: int | None = MaxTokensOption,
    device: str | None = DeviceOption,
    workers: int = typer.Option(
        1, "--workers", help="Worker processes; above 1, chunks go to OUTPUT.parts/ and a rerun resumes."
    ),
    chunk_size: int = typer.Option(2048, "--chunk-size", help="Texts per chunk file with --workers above 1 or --ray."),
    ray: str | None = typer.Option(
        None, "--ray", help="Encode the chunks on Ray (needs the ray extra), --workers actors: 'local' to start "
        "Ray here, or a cluster's HOST:PORT, ray://HOST:PORT or auto.",
    ),
) -> None:
    """Embed every text of a file and save the matrix as .npy (with --workers or --ray, resumably in chunks)."""
    from embedlab.data import read_texts
    from embedlab.models.loading import load_model

    if output.suffix != ".npy":
        raise EmbedlabError(f"--output must end in .npy, not {output.name}")
    texts = read_texts(input, field=field)
    if task is not None and prompt is not None:
        raise EmbedlabError("give --prompt or --task, not both")
    if workers > 1 or ray is not None:
        if device is not None:
            raise EmbedlabError("--device is for one process; --workers and --ray encode on CPU workers")
        from embedlab.scale.bulk import BulkConfig, encode_to_file
        from embedlab.scale.ray_encode import RayRunner

        if task is not None:
            # The instruction depends on the model's template: read here, as the workers take a finished prompt.
            prompt = load_model(model, pooling=pooling).query_prompt_for(task)
        options = {
            "prompt": prompt, "dim": dim, "normalize": normalize, "max_tokens": max_tokens, "batch_size": batch_size
        }
        config = BulkConfig(model=model, pooling=pooling, backend=backend, workers=workers,
                            threads_per_worker=threads or 1, chunk_size=chunk_size, **options)
        runner = RayRunner(ray) if ray is not None else None
        shape = encode_to_file(texts, output, config, show_progress=len(texts) > 256, runner=runner).shape
        where = " on Ray" if runner is not None else ""
        console.print(f"wrote {shape[0]} x {shape[1]} embeddings to {output} ({workers} workers{where})")
        return
    encoder = load_model(model, pooling=pooling, backend=backend, threads=threads, device=device)
    budget = {"max_tokens": max_tokens} if max_tokens is not None else {}  # only transformers pad batches
    if task is not None:
        prompt = encoder.query_prompt_for(task)
    embeddings = encoder.encode(
        texts, batch_size=batch_size, prompt=prompt, dim=dim, normalize=normalize, show_progress=len(texts) > 256,
        **budget,
    )
    save_array(embeddings, output)
    console.print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {output}")


@app.command()
def similarity(
    first: str = typer.Argument(..., help="First text."),
    second: str = typer.Argument(..., help="Second text."),
    model: str = ModelOption,
    paraphrase: float = typer.Option(0.85, help="Cosine at or above which the pair reads as a paraphrase."),
    related: float = typer.Option(0.6, help="Cosine at or above which the pair reads as related."),
    unrelated: float = typer.Option(0.2, help="Cosine below which the pair reads as unrelated."),
) -> None:
    """Cosine similarity of two texts and the band it falls in (bands depend on the model)."""
    from embedlab.models.loading import load_model
    from embedlab.similarity import SimilarityBands, band, cosine_similarity

    encoder = load_model(model)
    vectors = encoder.encode([first, second], normalize=True)
    score = float(cosine_similarity(vectors[0], vectors[1]))
    bands = SimilarityBands(paraphrase=paraphrase, related=related, unrelated=unrelated)
    console.print(f"cosine {score:.4f}  [bold]{band(score, bands)}[/bold]")


@app.command()
def demo() -> None:
    """Score six sentence pairs with averaged GloVe, a random BERT and all-MiniLM-L6-v2."""
    from embedlab.demo import UNRELATED_PAIRS, run_demo

    result = run_demo()
    for label, first, second in result.pairs:
        console.print(f"[bold]{label}[/bold]: {first!r} vs {second!r}", highlight=False)
    table = Table(title="cosine similarity of six sentence pairs")
    table.add_column("pair")
    for name in result.scores:
        table.add_column(name, justify="right")
    for row, (label, _, _) in enumerate(result.pairs):
        table.add_row(label, *(f"{scores[row]:.3f}" for scores in result.scores.values()))
    table.add_section()
    table.add_row("spread (max - min)", *(f"{result.spread(name):.3f}" for name in result.scores))
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    unrelated = {name: max(scores[i] for i in UNRELATED_PAIRS) for name, scores in result.scores.items()}
    console.print(
        "Pairs 4 and 6 share nothing. Their highest cosine per model: "
        + ", ".join(f"{name} {value:.2f}" for name, value in unrelated.items())
        + ".\nUntrained pooling squeezes every text into a narrow cone (anisotropy): unrelated texts score high"
        " and the spread is tiny. Contrastive training spreads texts out so that meaning decides distance."
    )


app.add_typer(eval_app, name="eval")
app.add_typer(index_app, name="index")
app.command()(diagnose)
app.command()(export)
app.command()(distill)
app.command()(dedup)
app.command()(cluster)
app.command()(rag)
app.command()(synth)
app.command()(train)
app.command()(mine)
app.command()(pretrain)
app.command()(serve)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    errors.print(f"[yellow]warning:[/yellow] {message}")


def main() -> None:
    """Console entry point: user errors, and files that cannot be read or written, become one red line and exit 1."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    warnings.showwarning = _show_warning
    try:
        app()
    except (EmbedlabError, OSError) as err:
        errors.print(f"[red]error:[/red] {escape(_one_line(err))}", highlight=False)  # messages may hold [brackets]
        sys.exit(1)


def _one_line(err: Exception) -> str:
    """An OSError as the OS says it, with its path ("Not a directory: out/x.npy"); any other error's own message."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.strerror}: {err.filename}"
    return str(err)
