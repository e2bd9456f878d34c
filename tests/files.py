"""Writing small fixture files for tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def write_jsonl(path: Path, rows: list) -> Path:
    """One JSON value per line (UTF-8, gzipped for a .gz name), parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return path


def write_tiny_beir(directory: Path) -> Path:
    """A three-document BEIR directory (guitars, markets, cooking) with two judged test queries."""
    write_jsonl(
        directory / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Guitars", "text": "How to play the guitar for beginners."},
            {"_id": "d2", "title": "Markets", "text": "Stock markets fell sharply on Monday."},
            {"_id": "d3", "title": "Cooking", "text": "A simple recipe for onion soup."},
        ],
    )
    write_jsonl(
        directory / "queries.jsonl",
        [{"_id": "q1", "text": "learning guitar"}, {"_id": "q2", "text": "onion soup recipe"}],
    )
    (directory / "qrels").mkdir()
    (directory / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return directory
