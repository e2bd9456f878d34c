"""RayRunner: the corpus job of embedlab.scale.bulk run on a Ray cluster through Ray Data, for corpora past one machine.

Only the executor changes: chunking, the chunk files, resuming and the final .npy are bulk.py's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.scale.bulk import BulkConfig, Chunk, encode_chunk, load_worker_model, write_chunk
from embedlab.scale.ray_cluster import ray_session, worker_error


@dataclass(frozen=True)
class RayRunner:
    """A bulk ChunkRunner on Ray: config.workers actors, each loading the model once, threads_per_worker CPUs each.

    address is a running cluster's ("HOST:PORT", "ray://HOST:PORT", "auto"); None starts a local Ray for the job.
    """

    address: str | None = None

    def __call__(self, todo: list[Chunk], parts_dir: Path, config: BulkConfig) -> Iterator[int]:
        import pyarrow as pa

        with ray_session(self.address, num_cpus=config.workers * config.threads_per_worker) as ray:
            # One block per chunk, so each actor call encodes a whole chunk (length sorting works across all of it).
            blocks = [pa.table({"chunk": [i] * len(ts), "row": range(len(ts)), "text": ts}) for i, ts in todo]
            embedded = ray.data.from_arrow(blocks).map_batches(
                _ChunkEncoder,
                fn_constructor_args=(config,),
                batch_size=None,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(todo))),
                num_cpus=config.threads_per_worker,
            )
            batches = embedded.iter_batches(batch_size=None, batch_format="numpy")
            try:
                for index, vectors in _whole_chunks(batches, {i: len(texts) for i, texts in todo}):
                    write_chunk(parts_dir, index, vectors)
                    yield len(vectors)
            except ray.exceptions.RayError as error:  # an actor could not load the model, say; finished chunks stay
                raise EmbedlabError(f"the Ray job failed: {worker_error(str(error))}") from None


def _whole_chunks(batches: Iterable[dict[str, np.ndarray]], sizes: dict[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    """Each chunk's vectors in row order, as soon as all its rows have come back.

    Ray may return a chunk's rows split over batches and chunks out of order; every row carries its place.
    """
    partial: dict[int, np.ndarray] = {}
    filled: dict[int, int] = {}
    for batch in batches:
        for i in np.unique(batch["chunk"]).tolist():
            rows = batch["chunk"] == i
            vectors = np.asarray(batch["embedding"][rows], dtype=np.float32)
            part = partial.setdefault(i, np.empty((sizes[i], vectors.shape[1]), dtype=np.float32))
            part[batch["row"][rows]] = vectors
            filled[i] = filled.get(i, 0) + len(vectors)
            if filled[i] == sizes[i]:
                yield i, partial.pop(i)


class _ChunkEncoder:
    """The Ray Data actor: the job's model, loaded once per actor like a pool worker's."""

    def __init__(self, config: BulkConfig) -> None:
        self.config = config
        self.model = load_worker_model(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = encode_chunk(self.model, [str(text) for text in batch["text"]], self.config)
        return {"chunk": batch["chunk"], "row": batch["row"], "embedding": vectors}
