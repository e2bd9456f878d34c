"""Encoding large corpora: fixed-size chunks encoded by a pool of worker processes, each written to disk.

A crash or Ctrl-C loses at most the chunks in flight: running the same job again skips the chunks on disk.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embedlab.atomic import save_array, write_json
from embedlab.errors import EmbedlabError

MANIFEST = "job.json"


@dataclass(frozen=True)
class BulkConfig:
    """A corpus job: which model and backend each worker loads, how many workers and threads, chunk size."""

    model: str = "minilm"
    pooling: str | None = None
    backend: str = "torch"
    workers: int = 2
    threads_per_worker: int = 1
    chunk_size: int = 2048
    batch_size: int = 32
    max_tokens: int | None = None
    prompt: str | None = None
    dim: int | None = None
    normalize: bool | None = None

    def __post_init__(self) -> None:
        for name in ("workers", "threads_per_worker", "chunk_size", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmbedlabError(f"{name} must be a positive integer, not {value!r}")


def encode_corpus(
    texts: Sequence[str], parts_dir: Path, config: BulkConfig = BulkConfig(), on_chunk: Callable[[int], None] | None = None
) -> np.ndarray:
    """Embeddings of all texts in input order, via chunk files in parts_dir that a rerun of the same job reuses.

    parts_dir belongs to one job (texts + settings); another job's folder is refused rather than mixed in.
    on_chunk(n_texts) is called as each chunk finishes, for progress bars.
    """
    texts = list(texts)
    parts_dir = Path(parts_dir)
    chunks = [(i, texts[start : start + config.chunk_size]) for i, start in enumerate(range(0, len(texts), config.chunk_size))]
    _claim(parts_dir, texts, config)
    todo = [(i, chunk) for i, chunk in chunks if not _chunk_path(parts_dir, i).is_file()]
    if on_chunk:
        on_chunk(len(texts) - sum(len(chunk) for _, chunk in todo))  # what earlier runs already wrote
    if todo:
        # spawn, not fork: torch and the Rust tokenizer hold threads that a forked child would inherit broken.
        context = multiprocessing.get_context("spawn")
        workers = min(config.workers, len(todo))
        with context.Pool(workers, initializer=_start_worker, initargs=(config,)) as pool:
            for i, n in pool.imap_unordered(_encode_chunk, [(i, chunk, str(parts_dir)) for i, chunk in todo]):
                if on_chunk:
                    on_chunk(n)
    parts = [np.load(_chunk_path(parts_dir, i)) for i, _ in chunks]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def encode_to_file(texts: Sequence[str], output: Path, config: BulkConfig, show_progress: bool = True) -> np.ndarray:
    """encode_corpus with its chunks beside `output` (OUTPUT.parts/), saved as one .npy; chunks go after."""
    from embedlab.progress import progress_bar

    parts = output.with_name(output.name + ".parts")
    with progress_bar(len(texts), f"encoding with {config.workers} workers", show_progress) as advance:
        embeddings = encode_corpus(texts, parts, config, on_chunk=advance)
    save_array(embeddings, output)
    shutil.rmtree(parts, ignore_errors=True)
    return embeddings


def _claim(parts_dir: Path, texts: list[str], config: BulkConfig) -> None:
    """Record the job in parts_dir, or check that the job recorded there is this one."""
    job = {"texts": len(texts), "texts_sha256": _texts_digest(texts), "config": asdict(config)}
    # The worker count and threads do not change the result, so a resumed job may use others.
    same = {k: v for k, v in job["config"].items() if k not in ("workers", "threads_per_worker")}
    manifest = parts_dir / MANIFEST
    if manifest.is_file():
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        kept = {k: v for k, v in recorded.get("config", {}).items() if k not in ("workers", "threads_per_worker")}
        if recorded.get("texts_sha256") != job["texts_sha256"] or kept != same:
            raise EmbedlabError(
                f"{parts_dir} holds chunks of another job (other texts or settings); remove it or choose another folder"
            )
        return
    if parts_dir.exists() and any(parts_dir.iterdir()):
        raise EmbedlabError(f"{parts_dir} exists and is not a chunk folder of embedlab; refusing to write into it")
    write_json(job, manifest)


def _texts_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _chunk_path(parts_dir: Path, index: int) -> Path:
    return parts_dir / f"chunk-{index:06d}.npy"


_worker_model = None
_worker_config: BulkConfig | None = None


def _start_worker(config: BulkConfig) -> None:
    """Load the model once per worker process, with its own thread count."""
    global _worker_model, _worker_config
    import torch

    from embedlab.loading import load_model

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the pool already uses every core
    torch.set_num_threads(config.threads_per_worker)
    _worker_model = load_model(config.model, pooling=config.pooling, backend=config.backend, threads=config.threads_per_worker)
    _worker_config = config


def _encode_chunk(task: tuple[int, list[str], str]) -> tuple[int, int]:
    index, texts, parts_dir = task
    config = _worker_config
    assert _worker_model is not None and config is not None
    # Unset options are left out, so each model type applies its own defaults (static models normalise).
    options = {k: getattr(config, k) for k in ("prompt", "dim", "normalize", "max_tokens") if getattr(config, k) is not None}
    embeddings = _worker_model.encode(texts, batch_size=config.batch_size, show_progress=False, **options)
    save_array(np.asarray(embeddings, dtype=np.float32), _chunk_path(Path(parts_dir), index))
    return index, len(texts)
