"""Where a command writes, checked as the command line is read: before any model loads or any work starts.

Missing parent folders are created when the result is written (as `mkdir -p` would), so the check refuses only
what can never work: a path under a regular file, a file where a folder goes (or a folder where a file goes),
a folder this user may not write into. Each refusal is one EmbedlabError line.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedlab.errors import EmbedlabError


def output_file(path: Path | str | None) -> Path | str | None:
    """A Typer callback for an option naming a file to write; returns the value unchanged when it can be written."""
    if path is not None:
        check_writable(Path(path), folder=False)
    return path


def output_folder(path: Path | str | None) -> Path | str | None:
    """A Typer callback for an option naming a folder to write into; returns the value unchanged."""
    if path is not None:
        check_writable(Path(path), folder=True)
    return path


def check_writable(path: Path, folder: bool) -> None:
    """Refuse `path` with one line when writing it (and creating its missing parents) cannot succeed."""
    if path.is_dir() and not folder:
        raise EmbedlabError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_dir() and folder:
        raise EmbedlabError(f"cannot write into {path}: it is a file, not a folder")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise EmbedlabError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EmbedlabError(f"cannot write {path}: {existing} is not writable")
