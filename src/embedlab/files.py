"""Reading files: text that may be gzipped, JSON lines, and sha256 digests of file contents.

Writing lives in embedlab.atomic (every save there is atomic); this module only reads.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any, Protocol

from embedlab.errors import EmbedlabError

BLOCK = 1 << 20  # read in blocks so hashing a large weight file never holds it in memory whole


class Digest(Protocol):
    """What hash_file_into needs of a hashlib object."""

    def update(self, data: bytes, /) -> None: ...


def open_text(path: str | os.PathLike) -> IO[str]:
    """`path` opened for reading as UTF-8 text, decompressed on the fly when its name ends in .gz.

    Large corpora and word lists ship gzipped; reading them as they are spares users a manual step.
    A damaged .gz raises gzip.BadGzipFile (an OSError) or EOFError on the first read, not here.
    """
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def json_line(line: str, where: str) -> Any:
    """One JSON value from a line of a .jsonl file; bad JSON is an EmbedlabError naming `where` ("path:line")."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise EmbedlabError(f"{where} is not valid JSON: {err.msg}") from None


def hash_file_into(digest: Digest, path: str | os.PathLike) -> None:
    """Feed the bytes of `path` into `digest`, block by block (for digests over several files)."""
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the bytes of `path`."""
    digest = hashlib.sha256()
    hash_file_into(digest, path)
    return digest.hexdigest()
