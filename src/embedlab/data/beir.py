"""Reading BEIR-format retrieval datasets: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Parsed the way the BEIR toolkit does, so scores computed here compare with published BEIR/MTEB tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embedlab.data.root import dataset_path
from embedlab.errors import EmbedlabError
from embedlab.files import json_line


@dataclass
class BeirDataset:
    """A BEIR dataset for one split: only queries with judgements in that split are kept, as BEIR does.

    `corpus` maps doc id -> {"title", "text"} in file order; `corpus_sha256` identifies the corpus file.
    """

    name: str
    split: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus_sha256: str

    def doc_ids(self) -> list[str]:
        return list(self.corpus)

    def doc_texts(self) -> list[str]:
        """The text each document is encoded or indexed as, aligned with doc_ids()."""
        return [doc_text(doc["title"], doc["text"]) for doc in self.corpus.values()]


def doc_text(title: str, text: str) -> str:
    """Title and text joined as BEIR and MTEB join them for encoding: `(title + " " + text).strip()`."""
    return (title + " " + text).strip()


def resolve_beir_dir(directory: str | Path) -> Path:
    """A BEIR directory given as a path, or by name under the data root's `beir/` (e.g. "scifact")."""
    path = Path(directory).expanduser()
    if path.is_dir():
        return path
    named = dataset_path("beir", str(directory)) if len(path.parts) == 1 else None
    if named is not None and named.is_dir():
        return named
    raise EmbedlabError(f"no BEIR dataset directory at {path} (nor a dataset of that name under the data root's beir/)")


def load_beir(directory: str | Path, split: str = "test") -> BeirDataset:
    """Load a BEIR dataset directory (or a dataset name under the data root) for one qrels split.

    Every qrels query must be in queries.jsonl and every judged doc in corpus.jsonl, else EmbedlabError.
    """
    root = resolve_beir_dir(directory)
    qrels_file = root / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        present = ", ".join(splits) or "none"
        raise EmbedlabError(f"{root.name} has no split {split!r} (no {qrels_file}); splits present: {present}")
    content = read_bytes(root / "corpus.jsonl")
    corpus = {
        doc_id: {"title": string_field(row, "title", where, default=""), "text": string_field(row, "text", where)}
        for doc_id, row, where in jsonl_rows(content, root / "corpus.jsonl")
    }
    queries = {
        query_id: string_field(row, "text", where)
        for query_id, row, where in jsonl_rows(read_bytes(root / "queries.jsonl"), root / "queries.jsonl")
    }
    qrels = _read_qrels(qrels_file)
    _check_ids(qrels, queries, corpus, qrels_file)
    return BeirDataset(
        name=root.resolve().name,
        split=split,
        corpus=corpus,
        queries={qid: text for qid, text in queries.items() if qid in qrels},
        qrels=qrels,
        corpus_sha256=hashlib.sha256(content).hexdigest(),
    )


def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise EmbedlabError(f"missing BEIR file {path}")
    return path.read_bytes()


def _lines(content: bytes, path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for each non-blank line of UTF-8 content."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        raise EmbedlabError(f"{path} is not UTF-8 text: {err}") from None
    # Only newlines end a line: str.splitlines would also split texts at \x1c, \x85 or \u2028.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def jsonl_rows(content: bytes, path: Path, id_fields: tuple[str, ...] = ("_id",)) -> Iterator[tuple[str, dict, str]]:
    """(id, row, "path:line") for each JSON line; the id is the first of `id_fields` present, a string unique
    within the file."""
    seen: set[str] = set()
    for number, line in _lines(content, path):
        row = json_line(line, f"{path}:{number}")
        value = next((row[f] for f in id_fields if f in row), None) if isinstance(row, dict) else None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            names = " or ".join(repr(f) for f in id_fields)
            raise EmbedlabError(f"{path}:{number} is not a JSON object with a string or integer {names}")
        row_id = str(value)
        if row_id in seen:
            raise EmbedlabError(f"{path}:{number} repeats the id {row_id!r}")
        seen.add(row_id)
        yield row_id, row, f"{path}:{number}"


def string_field(row: dict, field: str, where: str, default: str | None = None) -> str:
    """A string field of a JSON row; a missing or null field takes `default` when one is given."""
    value = row.get(field)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise EmbedlabError(f"{where} has no string field {field!r}")
    return value


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Parse `query-id<TAB>corpus-id<TAB>score` rows; a first row whose score is not an integer is the header."""
    qrels: dict[str, dict[str, int]] = {}
    for row_index, (number, line) in enumerate(_lines(read_bytes(path), path)):
        fields = line.split("\t")
        if len(fields) != 3:
            raise EmbedlabError(
                f"{path}:{number} has {len(fields)} tab-separated fields; expected query-id, corpus-id, score"
            )
        query_id, doc_id, score = (f.strip() for f in fields)
        try:
            relevance = int(score)
        except ValueError:
            if row_index == 0:
                continue
            raise EmbedlabError(f"{path}:{number} has a non-integer score {score!r}") from None
        if not query_id or not doc_id:
            raise EmbedlabError(f"{path}:{number} has an empty query-id or corpus-id")
        qrels.setdefault(query_id, {})[doc_id] = relevance
    if not qrels:
        raise EmbedlabError(f"{path} holds no judgements")
    return qrels


def _check_ids(qrels: dict[str, dict[str, int]], queries: dict[str, str], corpus: dict, path: Path) -> None:
    missing_queries = [qid for qid in qrels if qid not in queries]
    if missing_queries:
        first = missing_queries[0]
        raise EmbedlabError(f"{path}: {len(missing_queries)} query ids are not in queries.jsonl (first: {first!r})")
    missing_docs = sorted({doc for judged in qrels.values() for doc in judged if doc not in corpus})
    if missing_docs:
        first = missing_docs[0]
        raise EmbedlabError(f"{path}: {len(missing_docs)} corpus ids are not in corpus.jsonl (first: {first!r})")
