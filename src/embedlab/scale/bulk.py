"""Encoding large corpora: fixed-size chunks encoded by a pool of worker processes, each written to disk.

A crash or Ctrl-C loses at most the chunks in flight: running the same job again skips the chunks on disk.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embedlab.atomic import save_array, write_json
from embedlab.errors import EmbedlabError, check_positive_integers

MANIFEST = "job.json"
Chunk = tuple[int, list[str]]  # a chunk's number (its file name) and its texts


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
        check_positive_integers(self, ("workers", "threads_per_worker", "chunk_size", "batch_size"))


ChunkRunner = Callable[[list[Chunk], Path, BulkConfig], Iterable[int]]
"""Encodes the chunks it is given, writes each with write_chunk, and yields each one's text count as it lands."""


def encode_corpus(
    texts: Sequence[str],
    parts_dir: Path,
    config: BulkConfig = BulkConfig(),
    on_chunk: Callable[[int], None] | None = None,
    runner: ChunkRunner | None = None,
) -> np.ndarray:
    """Embeddings of all texts in input order, via chunk files in parts_dir that a rerun of the same job reuses.

    parts_dir belongs to one job (texts + settings); another job's folder is refused rather than mixed in.
    on_chunk(n_texts) is called as each chunk finishes, for progress bars. runner encodes the missing chunks:
    by default a local process pool (embedlab.scale.ray_encode.RayRunner takes them to a Ray cluster).
    """
    texts = list(texts)
    parts_dir = Path(parts_dir)
    chunks = [
        (i, texts[start : start + config.chunk_size]) for i, start in enumerate(range(0, len(texts), config.chunk_size))
    ]
    _claim(parts_dir, texts, config)
    todo = [(i, chunk) for i, chunk in chunks if not _chunk_path(parts_dir, i).is_file()]
    if on_chunk:
        on_chunk(len(texts) - sum(len(chunk) for _, chunk in todo))  # what earlier runs already wrote
    if todo:
        for n in (runner or run_pool)(todo, parts_dir, config):
            if on_chunk:
                on_chunk(n)
    parts = [np.load(_chunk_path(parts_dir, i)) for i, _ in chunks]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def encode_to_file(
    texts: Sequence[str],
    output: Path,
    config: BulkConfig,
    show_progress: bool = True,
    runner: ChunkRunner | None = None,
) -> np.ndarray:
    """encode_corpus with its chunks beside `output` (OUTPUT.parts/), saved as one .npy; chunks go after."""
    from embedlab.progress import progress_bar

    parts = output.with_name(output.name + ".parts")
    label = f"encoding with {config.workers} workers" + (" on Ray" if runner is not None else "")
    with progress_bar(len(texts), label, show_progress) as advance:
        embeddings = encode_corpus(texts, parts, config, on_chunk=advance, runner=runner)
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


def write_chunk(parts_dir: Path, index: int, embeddings: np.ndarray) -> None:
    """Save one finished chunk where encode_corpus looks for it (atomically, so a crash leaves no half file)."""
    save_array(np.asarray(embeddings, dtype=np.float32), _chunk_path(Path(parts_dir), index))


def load_worker_model(config: BulkConfig):
    """The job's model for one worker (a process here or an actor on Ray), held to its own thread count."""
    import torch

    from embedlab.models.loading import load_model

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the workers already use every core
    torch.set_num_threads(config.threads_per_worker)
    return load_model(config.model, pooling=config.pooling, backend=config.backend, threads=config.threads_per_worker)


def encode_chunk(model, texts: list[str], config: BulkConfig) -> np.ndarray:
    """One chunk's embeddings with the job's encode options, the same on every kind of worker."""
    # Unset options are left out, so each model type applies its own defaults (static models normalise).
    options = {k: v for k in ("prompt", "dim", "normalize", "max_tokens") if (v := getattr(config, k)) is not None}
    embeddings = model.encode(texts, batch_size=config.batch_size, show_progress=False, **options)
    return np.asarray(embeddings, dtype=np.float32)


def run_pool(todo: list[Chunk], parts_dir: Path, config: BulkConfig) -> Iterable[int]:
    """The default ChunkRunner: config.workers processes on this machine, chunks in any order."""
    # spawn, not fork: torch and the Rust tokenizer hold threads that a forked child would inherit broken.
    context = multiprocessing.get_context("spawn")
    workers = min(config.workers, len(todo))
    with context.Pool(workers, initializer=_start_worker, initargs=(config,)) as pool:
        yield from pool.imap_unordered(_encode_chunk, [(i, chunk, str(parts_dir)) for i, chunk in todo])


_worker_model = None
_worker_config: BulkConfig | None = None


def _start_worker(config: BulkConfig) -> None:
    global _worker_model, _worker_config
    _worker_model = load_worker_model(config)
    _worker_config = config


def _encode_chunk(task: tuple[int, list[str], str]) -> int:
    index, texts, parts_dir = task
    assert _worker_model is not None and _worker_config is not None
    write_chunk(Path(parts_dir), index, encode_chunk(_worker_model, texts, _worker_config))
    return len(texts)
