"""`embedlab eval ...` and `embedlab diagnose`: the evaluators and diagnostics from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from embedlab.cli.common import (
    BatchOption,
    JsonOption,
    ModelOption,
    TaskOption,
    console,
    show_result,
)
from embedlab.cli.inference import BackendOption
from embedlab.cli.outputs import output_folder
from embedlab.embedder import Embedder

eval_app = typer.Typer(help="Evaluate a model: STS, retrieval, pairs, clustering, classification, reranking, suite.")

DataFile = typer.Option(..., "--data", "-d", help="A .jsonl file of the task's rows.")
BeirDir = typer.Option(..., "--data", "-d", help="A BEIR directory: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
SplitOption = typer.Option("test", help="The qrels split to evaluate (qrels/<split>.tsv).")
SymmetricTaskOption = typer.Option(
    None, "--task", help="The task instruction-tuned models read before every text, as MTEB evaluates them."
)


def _model(name: str, backend: str = "torch") -> Embedder:
    from embedlab.models.loading import load_model

    return load_model(name, backend=backend)


@eval_app.command()
def sts(
    model: str = ModelOption,
    backend: str = BackendOption,
    data: Path = DataFile,
    batch_size: int = BatchOption,
    task: str | None = SymmetricTaskOption,
    json: Path | None = JsonOption,
) -> None:
    """Spearman/Pearson of cosine (and dot, euclidean, manhattan) against gold scores (sentence1, sentence2, score)."""
    from embedlab.evaluation.sts import evaluate_sts

    show_result(evaluate_sts(_model(model, backend), data, batch_size=batch_size, task=task), json)


@eval_app.command()
def retrieval(
    model: str = typer.Option("minilm", "--model", "-m", help="A model (see `embedlab info --help`) or 'bm25'."),
    backend: str = BackendOption,
    data: Path = BeirDir,
    split: str = SplitOption,
    top_k: int = typer.Option(100, help="Depth of the ranking each query gets."),
    ignore_identical_ids: bool = typer.Option(
        True, help="Drop hits whose doc id equals the query id (BEIR's default)."
    ),
    cache: bool = typer.Option(True, help="Reuse corpus embeddings cached for this model, data and settings."),
    hybrid: bool = typer.Option(False, help="Fuse the model's ranking with BM25's (reciprocal rank fusion)."),
    rerank: Path | None = typer.Option(
        None, help="A cross-encoder directory that re-orders each query's top documents."
    ),
    rerank_top: int = typer.Option(100, help="How many first-stage documents per query --rerank re-orders."),
    rerank_fuse: bool = typer.Option(
        False, help="Fuse the reranked order with the first stage's (reciprocal rank fusion) instead of replacing it."
    ),
    batch_size: int = BatchOption,
    task: str | None = TaskOption,
    json: Path | None = JsonOption,
) -> None:
    """nDCG, MRR, recall, MAP and precision of exact dense search (or BM25) on a BEIR dataset, optionally
    fused with BM25 (--hybrid) and re-ranked by a cross-encoder (--rerank CE --rerank-top 100)."""
    from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
    from embedlab.models.multi_vector_rerank import load_any_reranker as load_reranker

    config = RetrievalConfig(
        split=split, top_k=top_k, batch_size=batch_size, ignore_identical_ids=ignore_identical_ids, use_cache=cache,
        hybrid=hybrid, rerank_top=rerank_top, rerank_fusion=rerank_fuse, task=task,
    )
    encoder = "bm25" if model == "bm25" else _model(model, backend)
    reranker = load_reranker(rerank) if rerank is not None else None
    show_result(evaluate_retrieval(encoder, data, config, reranker=reranker), json)


@eval_app.command()
def reranking(
    model: str = ModelOption,
    backend: str = BackendOption,
    data: Path = BeirDir,
    split: str = SplitOption,
    top_n: int = typer.Option(100, help="BM25 candidates per query to re-order."),
    task: str | None = TaskOption,
    json: Path | None = JsonOption,
) -> None:
    """MAP and MRR@10 after the model re-orders each query's BM25 candidates."""
    from embedlab.evaluation.reranking import evaluate_reranking

    show_result(evaluate_reranking(_model(model, backend), data, top_n=top_n, split=split, task=task), json)


@eval_app.command()
def pairs(
    model: str = ModelOption,
    backend: str = BackendOption,
    data: Path = DataFile,
    task: str | None = SymmetricTaskOption,
    json: Path | None = JsonOption,
) -> None:
    """Average precision, best-threshold F1 and accuracy on duplicate/paraphrase pairs (sentence1, sentence2, label)."""
    from embedlab.evaluation.pairs import evaluate_pairs

    show_result(evaluate_pairs(_model(model, backend), data, task=task), json)


@eval_app.command()
def clustering(
    model: str = ModelOption,
    backend: str = BackendOption,
    data: Path = DataFile,
    seed: int = typer.Option(0, help="Seed for k-means and subsampling."),
    task: str | None = SymmetricTaskOption,
    json: Path | None = JsonOption,
) -> None:
    """V-measure and ARI of k-means and agglomerative clusters against labels (text, label)."""
    from embedlab.evaluation.clustering import ClusteringConfig, evaluate_clustering

    show_result(evaluate_clustering(_model(model, backend), data, ClusteringConfig(seed=seed), task), json)


@eval_app.command()
def classification(
    model: str = ModelOption,
    backend: str = BackendOption,
    data: Path = DataFile,
    folds: int = typer.Option(5, help="Stratified cross-validation folds."),
    seed: int = typer.Option(0, help="Seed for the fold split."),
    task: str | None = SymmetricTaskOption,
    json: Path | None = JsonOption,
) -> None:
    """Accuracy and macro-F1 of a logistic-regression probe on frozen embeddings (text, label)."""
    from embedlab.evaluation.classification import (
        ClassificationConfig,
        evaluate_classification,
    )

    config = ClassificationConfig(folds=folds, seed=seed)
    show_result(evaluate_classification(_model(model, backend), data, config, task), json)


@eval_app.command()
def suite(
    model: str = ModelOption,
    backend: str = BackendOption,
    root: Path | None = typer.Option(None, help="Data root (default: EMBEDLAB_DATA, else ../shared/data)."),
    out: Path = typer.Option(Path("runs/suite"), help="Folder for suite.json and suite.md.", callback=output_folder),
    only: list[str] | None = typer.Option(None, help="Run only these tasks (repeatable), e.g. --only sts."),
) -> None:
    """Run every dataset found under the data root and print one table; writes JSON and markdown."""
    from embedlab.atomic import write_json, write_text
    from embedlab.evaluation.suite import discover_tasks, run_suite, suite_markdown

    tasks = [t for t in discover_tasks(root) if not only or t.task in only]
    encoder = _model(model, backend)
    table = Table(title=f"embedlab suite: {model}")
    for column in ("task", "dataset", "metric"):
        table.add_column(column)
    table.add_column("score", justify="right")

    def report(result) -> None:
        console.print(f"{result.task} {result.dataset}: {result.main_metric} {100 * result.main_score:.2f}")
        table.add_row(result.task, result.dataset, result.main_metric, f"{100 * result.main_score:.2f}")

    results = run_suite(encoder, tasks, on_result=report)
    console.print(table)
    write_json([r.to_dict() for r in results], out / "suite.json")
    write_text(f"# embedlab suite: {model}\n\n" + suite_markdown(results), out / "suite.md")
    console.print(f"wrote {out / 'suite.json'} and {out / 'suite.md'}")


def diagnose(
    model: str = ModelOption,
    data: Path = typer.Option(
        ..., "--data", "-d", help=".jsonl pairs (sentence1/sentence2[/score|label] or anchor/positive), .jsonl.gz, "
        "or .txt texts."
    ),
    out: Path | None = typer.Option(
        None, help="Folder for PNG plots (cosine histograms, PCA scatter, spectrum).", callback=output_folder
    ),
    max_rows: int = typer.Option(5000, help="Read at most this many rows."),
    json: Path | None = JsonOption,
) -> None:
    """What makes an embedding space good, measured: anisotropy, alignment/uniformity, effective rank, granularity."""
    from embedlab.atomic import write_json
    from embedlab.evaluation.diagnostic_plots import save_plots
    from embedlab.evaluation.diagnostics import DiagnoseConfig
    from embedlab.evaluation.diagnostics import diagnose as run_diagnose

    report = run_diagnose(_model(model), data, DiagnoseConfig(max_rows=max_rows))
    table = Table(title=f"diagnostics: {model} on {data.name} ({report.n_texts} texts)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("reading")
    for name, value, reading in _diagnostic_rows(report):
        table.add_row(name, value, reading)
    console.print(table)
    if out is not None:
        for path in save_plots(report, out):
            console.print(f"wrote {path}")
    if json is not None:
        write_json(report.to_dict(), json)
        console.print(f"wrote {json}")


def _diagnostic_rows(report) -> list[tuple[str, str, str]]:
    rows = [
        ("anisotropy", f"{report.anisotropy:.3f}", "mean cosine of random pairs: 0 spread out, 1 a narrow cone"),
        ("uniformity", f"{report.uniformity:.3f}", "log E exp(-2|x-y|^2): lower spreads texts more evenly"),
        ("effective rank", f"{report.effective_rank:.1f} / {report.dim}", "dimensions the space really uses"),
    ]
    rows += [
        (f"top-{k} PC variance", f"{share:.3f}", "variance share of the leading components")
        for k, share in report.top_pc_share.items()
    ]
    if report.alignment is not None:
        rows.append(
            (
                "alignment",
                f"{report.alignment:.3f}",
                f"E|x-y|^2 over {report.positive_pairs.count} positive pairs: lower is better",
            )
        )
        rows.append(
            ("positive vs random AUC", f"{report.auc:.3f}", "how well cosine separates positives from random pairs")
        )
    if report.spearman is not None:
        rows.append(("spearman", f"{report.spearman:.3f}", "cosine vs gold scores"))
    if report.granularity is not None:
        rows.append(
            (
                "granularity",
                f"{report.granularity:.3f}",
                f"spearman over the {report.n_granularity_pairs} closest pairs",
            )
        )
    return rows
