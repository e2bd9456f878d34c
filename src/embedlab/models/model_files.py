"""Finding a model's files and refusing unsafe ones before anything is loaded.

Pickle weights (pytorch_model.bin) can run arbitrary code when read, so only safetensors load by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedlab.errors import EmbedlabError, ModelLoadError

HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*/*.json", "*/*.safetensors"]
PICKLE_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def local_model_dir(name: str, revision: str | None = None, allow_pickle: bool = False) -> Path:
    """A local directory for a model path or hub id, fetching the hub snapshot if needed."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{name} is a file, not a model directory")
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelLoadError(f"no model directory at {name}")
    from huggingface_hub import snapshot_download

    patterns = HUB_FILES + (["*.bin"] if allow_pickle else [])
    try:
        return Path(snapshot_download(name, revision=revision, allow_patterns=patterns))
    except Exception as err:  # noqa: BLE001 - the hub raises many types; the user needs only the reason
        raise ModelLoadError(
            f"{name!r} is not a local directory and could not be fetched from the Hugging Face hub: {first_line(err)}"
        ) from None


def check_weights(directory: Path, allow_pickle: bool) -> bool:
    """Whether to load safetensors (True) or pickle weights (False, only when allowed)."""
    if any(directory.glob("*.safetensors")) or (directory / "model.safetensors.index.json").exists():
        return True
    if any((directory / name).exists() for name in PICKLE_NAMES):
        if allow_pickle:
            return False
        raise ModelLoadError(
            f"{directory} holds only pickle weights (pytorch_model.bin), which can run code when loaded; "
            "convert them to safetensors, or pass allow_pickle=True (--allow-pickle) if you trust the source"
        )
    raise ModelLoadError(f"{directory} holds no model weights (expected model.safetensors)")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading/saving bars and notices; embedlab reports its own progress."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def model_max_length(transformer, tokenizer) -> int:
    """The longest input a transformer takes: its position table or the tokenizer's limit, whichever is smaller."""
    # Tokenizers without a limit report a huge sentinel (1e30); position tables are the real bound.
    limits = [getattr(transformer.config, "max_position_embeddings", None), tokenizer.model_max_length]
    return min((n for n in limits if isinstance(n, int) and 0 < n < 1_000_000), default=512)


def is_model_dir(path: Path) -> bool:
    """Whether a directory looks like a saved model (so saving over it replaces a model, not user files)."""
    return (path / "modules.json").exists() or (path / "config.json").exists()


def save_target(path: str | os.PathLike) -> Path:
    """Where a model will be saved: refused in one line when it exists and holds something other than a model,
    so saving never replaces a user's files."""
    target = Path(path).expanduser()
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or is_model_dir(target))):
        raise EmbedlabError(f"{target} exists and is not a model directory; refusing to overwrite it")
    return target


def first_line(err: BaseException) -> str:
    """The first line of an exception's message: what a one-line error quotes from a library's failure."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
