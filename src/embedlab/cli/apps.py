"""`embedlab dedup` and `embedlab cluster`: near-duplicate removal and topic clustering of a text file.

Each reads a .txt or .jsonl file, runs one function of embedlab.apps and summarises what it did in a table.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from embedlab.cli.common import BatchOption, ModelOption, console, shorten
from embedlab.cli.outputs import output_file

InputArgument = typer.Argument(..., help="Texts: .txt (one per line) or .jsonl (one object per line).")
FieldOption = typer.Option("text", help="The jsonl field holding the text.")
# Progress bars only where encoding takes long enough to watch.
PROGRESS_MIN_TEXTS = 256
SHOWN_GROUPS = 10
SHOWN_CHARS = 70


def dedup(
    input: Path = InputArgument,
    out: Path = typer.Option(
        ..., "--out", "-o", help="Where the kept rows go, in the input's format.", callback=output_file
    ),
    report: Path | None = typer.Option(
        None, help="Also write every group, its scores and the counts as JSON.", callback=output_file
    ),
    threshold: float = typer.Option(0.9, help="Cosine at or above which two texts are duplicates."),
    k: int = typer.Option(10, "--k", help="Nearest neighbours searched per text."),
    store: str = typer.Option("exact", help="Vector store for the neighbour search: exact or faiss-hnsw."),
    model: str = ModelOption,
    field: str = FieldOption,
    batch_size: int = BatchOption,
) -> None:
    """Drop near-duplicate texts, keeping the first of each group; optionally report the groups."""
    from embedlab.apps.dedup import DedupConfig, deduplicate, read_rows, write_rows
    from embedlab.atomic import write_json
    from embedlab.models.loading import load_model

    config = DedupConfig(threshold=threshold, k=k, store=store, batch_size=batch_size)
    texts, rows = read_rows(input, field)
    result = deduplicate(load_model(model), texts, config, rows=rows, show_progress=len(texts) >= PROGRESS_MIN_TEXTS)
    write_rows(result.kept, out)
    counts = result.report["counts"]
    table = Table(title=f"dedup of {input.name} at cosine >= {threshold}")
    for column in ("texts", "kept", "removed", "groups", "pairs"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{counts[column]:,}" for column in ("texts", "kept", "removed", "groups", "pairs")))
    console.print(table)
    largest = sorted(result.report["groups"], key=lambda group: -len(group["duplicates"]))[:SHOWN_GROUPS]
    if largest:
        groups = Table(title=f"largest groups (of {counts['groups']:,})")
        groups.add_column("kept row", justify="right")
        groups.add_column("size", justify="right")
        groups.add_column("lowest cosine", justify="right")
        groups.add_column("kept text")
        for group in largest:
            lowest = min(d["score"] for d in group["duplicates"])
            groups.add_row(str(group["kept"]["row"]), str(1 + len(group["duplicates"])), f"{lowest:.3f}",
                           shorten(group["kept"]["text"], SHOWN_CHARS))
        console.print(groups)
    console.print(f"wrote {len(result.kept):,} rows to {out}")
    if report is not None:
        write_json(result.report, report)
        console.print(f"wrote {report}")


def cluster(
    input: Path = InputArgument,
    out: Path = typer.Option(
        ..., "--out", "-o", help="Where each text's cluster goes: .jsonl or .csv.", callback=output_file
    ),
    method: str = typer.Option("kmeans", help="kmeans, agglomerative or community."),
    k: int | None = typer.Option(None, "--k", help="k-means clusters (default: best silhouette for 2-10)."),
    threshold: float | None = typer.Option(
        None, help="Cosine for agglomerative merging (default 0.5) or community membership (default 0.75)."
    ),
    min_size: int = typer.Option(3, help="Smallest community kept (community method)."),
    plot: Path | None = typer.Option(
        None, help="Also draw a 2-D map of the clusters to this .png.", callback=output_file
    ),
    projection: str = typer.Option("pca", help="Map projection: pca, or umap if umap-learn is installed."),
    model: str = ModelOption,
    field: str = FieldOption,
    batch_size: int = BatchOption,
    seed: int = typer.Option(0, help="Seed for k-means and the projection."),
) -> None:
    """Cluster texts by meaning; each cluster is shown with its keywords and most central text."""
    from embedlab.apps.cluster import (
        ClusterConfig,
        check_assignments_path,
        check_plot_options,
        cluster_texts,
        plot_clusters,
        write_assignments,
    )
    from embedlab.data import read_texts
    from embedlab.models.loading import load_model

    config = ClusterConfig(method=method, k=k, threshold=threshold, min_community_size=min_size, seed=seed,
                           batch_size=batch_size)
    check_assignments_path(out)
    if plot is not None:
        check_plot_options(plot, projection)
    texts = read_texts(input, field=field)
    result = cluster_texts(load_model(model), texts, config, show_progress=len(texts) >= PROGRESS_MIN_TEXTS)
    write_assignments(out, texts, result.labels)
    details = result.details
    table = Table(title=f"{details['clusters']} clusters of {details['texts']:,} texts ({method})"
                  + (f", {details['unassigned']:,} in none" if details["unassigned"] else ""))
    table.add_column("cluster", justify="right")
    table.add_column("size", justify="right")
    table.add_column("keywords")
    table.add_column("most central text")
    for summary in result.clusters:
        keywords = ", ".join(summary.keywords)
        table.add_row(str(summary.cluster), f"{summary.size:,}", keywords, shorten(summary.central[0], SHOWN_CHARS))
    console.print(table)
    console.print(f"wrote {out}")
    if plot is not None:
        plot_clusters(plot, result.embeddings, result.labels, projection)
        console.print(f"wrote {plot}")
