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
