"""`embedlab index build | add | search | info`: a searchable index of a corpus, kept in a directory.

Each command is one call of embedlab.index.index.Index; the directory's manifest remembers the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from embedlab.cli.common import BatchOption, ModelOption, TaskOption, console, shorten
from embedlab.cli.outputs import output_folder
from embedlab.embedder import representation
from embedlab.errors import EmbedlabError

index_app = typer.Typer(help="Build, grow, search and inspect a vector index of a corpus.", no_args_is_help=True)
IndexDirArgument = typer.Argument(..., help="The index directory (written by `embedlab index build`).")
CorpusOption = typer.Option(
    ..., "--corpus", help="Documents: .jsonl (`_id` or `id`, `text`, optional `title`, other fields = metadata), "
    "a BEIR directory, or .txt (one per line)."
)
FieldOption = typer.Option("text", help="The jsonl field holding each document's text.")
RerankOption = typer.Option(None, "--rerank", help="A cross-encoder directory that rescores the first candidates.")
RerankTopOption = typer.Option(100, help="Candidates the cross-encoder rescores (with --rerank).")
SHOWN_CHARS = 90


def build(
    corpus: Path = CorpusOption,
    out: Path = typer.Option(..., "--out", "-o", help="The index directory to write.", callback=output_folder),
    model: str = ModelOption,
    store: str = typer.Option("exact", help="exact, faiss-hnsw, faiss-ivfpq, milvus, int8 or binary."),
    uri: str | None = typer.Option(None, help="Milvus server URI (store milvus); default: embedded milvus-lite."),
    max_tokens: int = typer.Option(200, help="Most tokens per chunk; longer documents are split."),
    overlap: int = typer.Option(32, help="Tokens shared by consecutive chunks of a document."),
    field: str = FieldOption,
    batch_size: int = BatchOption,
    task: str | None = TaskOption,
    late_chunking: bool = typer.Option(
        False, "--late-chunking", help="Pool each chunk from one reading of its whole document (transformer models)."
    ),
) -> None:
    """Chunk, embed and index a corpus; --task is saved and used by every search that gives none."""
    from embedlab.data.corpus import ChunkConfig, read_corpus
    from embedlab.index.index import IndexConfig
    from embedlab.index.open import build_index
    from embedlab.models.loading import load_model

    options = {"uri": uri} if uri is not None else {}
    if uri is not None and store != "milvus":
        raise EmbedlabError("--uri is for --store milvus")
    config = IndexConfig(
        store=store, store_options=options, chunks=ChunkConfig(max_tokens, overlap), batch_size=batch_size, task=task,
        late_chunking=late_chunking,
    )
    documents = read_corpus(corpus, field)
    encoder = load_model(model)
    index = build_index(encoder, documents, config, model_name=model)
    index.save(out)
    kind = representation(encoder)
    how = store + (", late-chunked" if late_chunking else "") if kind == "dense" else kind.replace("_", "-")
    console.print(f"indexed {index.documents:,} documents as {len(index):,} chunks ({how}) in {out}")






def add(
    index_dir: Path = IndexDirArgument,
    corpus: Path = CorpusOption,
    field: str = FieldOption,
) -> None:
    """Add documents to an index (same id: replaced); only the new documents are encoded."""
    from embedlab.data.corpus import read_corpus
    from embedlab.index.open import load_index

    index = load_index(index_dir)
    before = index.documents
    added = index.add(read_corpus(corpus, field))
    index.save(index_dir)
    console.print(f"added {added:,} documents ({index.documents - before:,} new); {index.documents:,} in {index_dir}")


def search(
    index_dir: Path = IndexDirArgument,
    query: str = typer.Argument(..., help="The search query."),
    k: int = typer.Option(10, "--k", "-k", help="Results to show."),
    mode: str = typer.Option("dense", help="dense (embeddings), bm25, or hybrid (both, reciprocal rank fusion)."),
    where: list[str] | None = typer.Option(None, help="Metadata filter FIELD=VALUE (JSON values allowed); repeatable."),
    rerank: Path | None = RerankOption,
    rerank_top: int = RerankTopOption,
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON lines instead of a table."),
    task: str | None = typer.Option(None, "--task", help="Encode the query for this task instead of the index's own."),
) -> None:
    """Search an index with one query (a sparse index: --mode dense searches the model's sparse rows)."""
    from embedlab.index.index import Index
    from embedlab.index.open import load_index
    from embedlab.index.sparse_index import SparseIndex

    index = load_index(index_dir)
    if isinstance(index, SparseIndex):
        if where or rerank is not None or task is not None:
            raise EmbedlabError("a sparse index searches without --where, --rerank and --task")
        hits = index.search(query, k=k, mode="sparse" if mode == "dense" else mode)
    elif isinstance(index, Index):
        hits = index.search(
            query, k=k, mode=mode, where=parse_where(where or []), reranker=load_reranker(rerank),
            rerank_top=rerank_top, task=task,
        )
    elif mode != "dense" or where or task:
        raise EmbedlabError("a multi-vector (ColBERT) index searches by MaxSim only: drop --mode, --where and --task")
    else:
        hits = index.search(query, k=k, reranker=load_reranker(rerank), rerank_top=rerank_top)
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(hit._asdict(), ensure_ascii=False))
        return
    table = Table(title=f"{mode} search: {query}")
    for column in ("rank", "score", "document", "chunk", "text"):
        table.add_column(column, justify="right" if column in ("rank", "score", "chunk") else "left")
    for rank, hit in enumerate(hits, start=1):
        text = " ".join(f"{hit.title} {hit.text}".split())
        table.add_row(str(rank), f"{hit.score:.4f}", hit.doc_id, str(hit.chunk_id), shorten(text, SHOWN_CHARS))
    console.print(table)


def info(index_dir: Path = IndexDirArgument) -> None:
    """What an index holds and how it was built (its manifest)."""
    from embedlab.index.index import read_manifest, verify_files
    from embedlab.index.multi_vector_index import is_multi_vector_index, read_multi_vector_manifest
    from embedlab.index.sparse_index import is_sparse_index, read_sparse_manifest

    if is_sparse_index(index_dir):
        manifest = read_sparse_manifest(index_dir)
        rows = {**manifest["model"], **manifest["counts"], **manifest["chunks"]}
        _table(f"{index_dir} (sparse)", {key.replace("_", " "): value for key, value in rows.items()})
        return
    if is_multi_vector_index(index_dir):
        manifest = read_multi_vector_manifest(index_dir)
        keys = ("documents", "chunks", "tokens", "bytes_per_document")
        _table(str(index_dir), {"model": manifest["model"]["name"], "kind": "multi_vector (ColBERT)",
                                "dimensions": manifest["model"]["dim"], **{k: manifest[k] for k in keys}})
        return
    manifest = read_manifest(index_dir)
    verify_files(index_dir, manifest)
    model = manifest["model"]
    rows = {
        "model": model["name"], "dimensions": model["dim"], "weights sha256": (model["fingerprint"] or "?")[:16],
        "query prompt": repr(model["query_prompt"]), "document prompt": repr(model["document_prompt"]),
        "task": repr(manifest.get("task")),
        "store": manifest["store"], "documents": f"{manifest['counts']['documents']:,}",
        "chunks": f"{manifest['counts']['chunks']:,}",
        "chunking": f"{manifest['chunks']['max_tokens']} tokens, overlap {manifest['chunks']['overlap']}"
        + (", late" if manifest.get("late_chunking") else ""),
        "generation": manifest["generation"], "created": manifest["created"], "embedlab": manifest["embedlab"],
    }
    _table(str(index_dir), rows)


def _table(title: str, rows: dict) -> None:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, str(value))
    console.print(table)


def load_reranker(path: Path | None):
    """The cross-encoder at `path`, or None."""
    if path is None:
        return None
    from embedlab.models.multi_vector_rerank import load_any_reranker

    return load_any_reranker(path)


def parse_where(pairs: list[str]) -> dict:
    """FIELD=VALUE options as a filter; VALUE is read as JSON when it parses (numbers, true, lists), else text."""
    where = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise EmbedlabError(f"--where takes FIELD=VALUE, got {pair!r}")
        try:
            where[name] = json.loads(raw)
        except ValueError:
            where[name] = raw
    return where


index_app.command()(build)
index_app.command()(add)
index_app.command()(search)
index_app.command()(info)
