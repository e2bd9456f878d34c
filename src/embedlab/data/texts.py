"""Reading texts to encode from .txt (one per line) or .jsonl (one object per line) files."""

from __future__ import annotations

from pathlib import Path

from embedlab.data.beir import doc_text
from embedlab.errors import EmbedlabError
from embedlab.files import json_line


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """All texts of a file; jsonl rows must hold a string under `field` (BEIR corpora join title and text)."""
    path = Path(path)
    if not path.is_file():
        raise EmbedlabError(f"no input file at {path}")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise EmbedlabError(f"{path} is not UTF-8 text: {err}") from None
    # Only newlines end a line: str.splitlines would also split texts at \x1c, \x85 or \u2028.
    lines = [line.removesuffix("\r") for line in content.removesuffix("\n").split("\n")] if content else []
    if path.suffix != ".jsonl":
        return lines
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = json_line(line, f"{path}:{number}")
        value = row.get(field) if isinstance(row, dict) else None
        if not isinstance(value, str):
            raise EmbedlabError(f"{path}:{number} has no string field {field!r}")
        title = row.get("title")
        texts.append(doc_text(title, value) if isinstance(title, str) and title else value)
    return texts
