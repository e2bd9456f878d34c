"""Batches for contrastive training: one dataset per batch, no text twice in a batch, resumable.

In-batch negatives only mean something within one dataset, and a repeated text would be a false negative.
Batches are made as training asks for them, so the sampler holds one row permutation per dataset and nothing
else in proportion to the data: a memory-mapped training set larger than memory trains in flat memory.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedlab.data.training_sets import TrainingRows
from embedlab.errors import EmbedlabError

MIXTURES = ("proportional", "round_robin")


def no_duplicate_batches(
    dataset: TrainingRows, order: Sequence[int] | np.ndarray, batch_size: int
) -> Iterator[list[int]]:
    """Pack rows in `order` into full batches whose texts are all distinct, one batch at a time.

    A row that clashes with the open batch waits for a later one; rows left over at the end are dropped.
    Texts are read only for the rows a batch looks at.
    """
    waiting: list[int] = []  # rows an earlier batch deferred: they are tried before the rest of `order`
    taken = 0  # how many rows of `order` have been looked at
    while len(waiting) + len(order) - taken >= batch_size:
        batch: list[int] = []
        seen: set[str] = set()
        deferred: list[int] = []
        tried = 0
        while len(batch) < batch_size and (tried < len(waiting) or taken < len(order)):
            if tried < len(waiting):
                row, tried = waiting[tried], tried + 1
            else:
                row, taken = int(order[taken]), taken + 1
            texts = dataset.texts(row)
            # Only clashes between rows matter: a SimCSE row repeats its own text on purpose.
            if seen.isdisjoint(texts):
                batch.append(row)
                seen.update(texts)
            else:
                deferred.append(row)
        if len(batch) < batch_size:
            return
        waiting = deferred + waiting[tried:]
        yield batch


@dataclass
class MixtureSampler:
    """Epochs of batches over several datasets; each batch comes from one of them.

    `proportional` draws each batch's dataset with probability proportional to its rows not yet batched (so
    datasets appear in proportion to their size, spread over the epoch); `round_robin` alternates between
    datasets while each has batches left.
    """

    datasets: list[TrainingRows]
    batch_size: int
    seed: int = 0
    mixture: str = "proportional"
    epoch: int = 0
    position: int = 0
    _length: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise EmbedlabError("no training datasets given")
        if self.mixture not in MIXTURES:
            raise EmbedlabError(f"mixture must be one of {', '.join(MIXTURES)}, not {self.mixture!r}")
        small = [d.name for d in self.datasets if len(d) < self.batch_size]
        if small:
            raise EmbedlabError(f"datasets smaller than one batch of {self.batch_size}: {', '.join(small)}")

    def plan(self, epoch: int) -> Iterator[tuple[int, list[int]]]:
        """(dataset index, rows) for every batch of an epoch, made one by one; the same seed and epoch give the same."""
        # Seeded through a string so that every int seed, negative ones too, gives its own generator.
        rng = np.random.default_rng(random.Random(f"{self.seed}-{epoch}").getrandbits(64))
        streams = [no_duplicate_batches(d, rng.permutation(len(d)), self.batch_size) for d in self.datasets]
        if self.mixture == "round_robin":
            live = list(range(len(streams)))
            while live:
                for index in list(live):
                    rows = next(streams[index], None)
                    if rows is None:
                        live.remove(index)
                    else:
                        yield index, rows
            return
        unbatched = np.array([len(d) for d in self.datasets], dtype=np.float64)
        while unbatched.any():
            index = int(rng.choice(len(streams), p=unbatched / unbatched.sum()))
            rows = next(streams[index], None)
            if rows is None:
                unbatched[index] = 0  # what is left cannot fill a batch
            else:
                unbatched[index] -= len(rows)
                yield index, rows

    def __len__(self) -> int:
        """Batches in the first epoch (later ones differ at most by rows that clash); counted once."""
        if self._length is None:
            self._length = sum(1 for _ in self.plan(0))
        return self._length

    def __iter__(self) -> Iterator[dict]:
        """The rest of the current epoch, then moves on to the next (so a resumed run picks up mid-epoch)."""
        # A resumed run makes the batches it already trained on again, without reading their columns.
        for index, rows in itertools.islice(self.plan(self.epoch), self.position, None):
            self.position += 1
            yield self.datasets[index].batch(rows)
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
