"""`embedlab mine`: hard negatives for a BEIR dataset or a pair file, written as triplets `embedlab train` reads."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from embedlab.cli.common import MODEL_HELP, BatchOption, TaskOption, console
from embedlab.cli.outputs import output_file
from embedlab.errors import EmbedlabError
from embedlab.mining.config import MODEL_SOURCES, POOLS, SAMPLINGS, SOURCES


def mine(
    data: str = typer.Option(
        ..., "--data", "-d", help="A BEIR directory (or a dataset name under the data root) or a pair .jsonl "
        "(anchor, positive)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Triplets .jsonl to write (anchor, positive, negatives); "
                                "a .report.json goes beside it.",
                                callback=output_file),
    source: str = typer.Option("bm25", help=f"Where candidates come from: {', '.join(SOURCES)}."),
    model: str = typer.Option(
        "minilm", "--model", "-m", help=f"The model scoring dense and same_document candidates. {MODEL_HELP}"
    ),
    split: str = typer.Option("train", help="The BEIR qrels split whose pairs get negatives."),
    count: int = typer.Option(5, help="Negatives per anchor; anchors with fewer survivors are dropped."),
    window: tuple[int, int] = typer.Option((10, 100), help="First and last rank (1-based) candidates are taken from."),
    margin: float | None = typer.Option(0.95, help="Drop candidates scoring above MARGIN x the positive's score."),
    no_margin: bool = typer.Option(False, "--no-margin", help="Turn the margin filter off."),
    skip_above_positive: bool = typer.Option(True, help="Drop candidates ranked above the anchor's own positive."),
    judge: str | None = typer.Option(
        None, help="A cross-encoder directory; candidates it scores at or above --judge-threshold are dropped."
    ),
    judge_threshold: float = typer.Option(
        0.5, help="The judge's relevance score (0-1) at which a candidate counts as a positive."
    ),
    sampling: str = typer.Option("top", help=f"Which survivors to keep: {', '.join(SAMPLINGS)}."),
    pool: str = typer.Option(
        "all",
        help=f"Candidates from every text ({POOLS[0]}) or only from texts that are some anchor's positive "
        f"({POOLS[1]}): negatives a model cannot reject by recognising never-relevant texts.",
    ),
    seed: int = typer.Option(0, help="Seed for the random source and random sampling."),
    passage_words: int = typer.Option(64, help="same_document: words per passage."),
    passage_overlap: int = typer.Option(16, help="same_document: words shared by neighbouring passages."),
    batch_size: int = BatchOption,
    task: str | None = TaskOption,
) -> None:
    """Mine hard negatives (BM25, dense, same-document or random) with false-negative filters; writes triplets."""
    from embedlab.mining import MiningConfig, load_mining_task, write_triplets
    from embedlab.mining import mine as run_mining

    config = MiningConfig(
        source=source,
        count=count,
        window=window,
        margin=None if no_margin else margin,
        skip_above_positive=skip_above_positive,
        judge_threshold=judge_threshold,
        sampling=sampling,
        pool=pool,
        seed=seed,
        passage_words=passage_words,
        passage_overlap=passage_overlap,
        batch_size=batch_size,
        query_task=task,
    )
    if output.suffix != ".jsonl":
        raise EmbedlabError(f"--output must end in .jsonl, not {output.name}")
    task = load_mining_task(data, split)
    encoder = _load_model(model) if source in MODEL_SOURCES else None
    scorer = _load_judge(judge) if judge else None
    result = run_mining(task, config, encoder, scorer, show_progress=True)
    triplets, report_path = write_triplets(result, output)
    table = Table(title=f"mining {task.name}: {source}")
    table.add_column("what")
    table.add_column("count", justify="right")
    report = result.report
    for label, value in [
        ("anchors", report.anchors),
        ("written", report.written),
        ("dropped (too few negatives)", report.dropped),
        ("negatives kept", report.selected),
    ] + [(f"filtered: {k}", v) for k, v in report.filtered.items()]:
        table.add_row(label, str(value))
    console.print(table)
    console.print(f"wrote {triplets} and {report_path}")


def _load_model(name: str):
    from embedlab.models.loading import load_model

    return load_model(name)


def _load_judge(path: str):
    from embedlab.models.cross_encoder import load_reranker

    return load_reranker(path, what="a mining judge")
