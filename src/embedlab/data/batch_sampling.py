"""Batches for contrastive training: one dataset per batch, no text twice in a batch, resumable.

In-batch negatives only mean something within one dataset, and a repeated text would be a false negative.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from embedlab.data.training_sets import TrainingSet
from embedlab.errors import EmbedlabError

MIXTURES = ("proportional", "round_robin")


def no_duplicate_batches(dataset: TrainingSet, order: list[int], batch_size: int) -> list[list[int]]:
    """Pack rows in `order` into full batches whose texts are all distinct.

    A row that clashes with the open batch waits for a later one; rows left over at the end are dropped.
    """
    batches: list[list[int]] = []
    waiting = list(order)
    while len(waiting) >= batch_size:
        batch, seen, deferred = [], set(), []
        for position, row in enumerate(waiting):
            texts = dataset.texts(row)
            # Only clashes between rows matter: a SimCSE row repeats its own text on purpose.
            if seen.isdisjoint(texts):
                batch.append(row)
                seen.update(texts)
                if len(batch) == batch_size:
                    deferred.extend(waiting[position + 1 :])
                    break
            else:
                deferred.append(row)
        if len(batch) < batch_size:
            break
        batches.append(batch)
        waiting = deferred
    return batches


@dataclass
class MixtureSampler:
    """Epochs of batches over several datasets; each batch comes from one of them.

    `proportional` shuffles all batches together (so datasets appear in proportion to their size);
    `round_robin` alternates between datasets while each has batches left.
    """

    datasets: list[TrainingSet]
    batch_size: int
    seed: int = 0
    mixture: str = "proportional"
    epoch: int = 0
    position: int = 0

    def __post_init__(self) -> None:
        if not self.datasets:
            raise EmbedlabError("no training datasets given")
        if self.mixture not in MIXTURES:
            raise EmbedlabError(f"mixture must be one of {', '.join(MIXTURES)}, not {self.mixture!r}")
        small = [d.name for d in self.datasets if len(d) < self.batch_size]
        if small:
            raise EmbedlabError(f"datasets smaller than one batch of {self.batch_size}: {', '.join(small)}")

    def plan(self, epoch: int) -> list[tuple[int, list[int]]]:
        """(dataset index, rows) for every batch of an epoch; the same seed and epoch give the same plan."""
        rng = random.Random(f"{self.seed}-{epoch}")
        per_dataset = []
        for index, dataset in enumerate(self.datasets):
            order = list(range(len(dataset)))
            rng.shuffle(order)
            per_dataset.append([(index, rows) for rows in no_duplicate_batches(dataset, order, self.batch_size)])
        if self.mixture == "proportional":
            plan = [batch for batches in per_dataset for batch in batches]
            rng.shuffle(plan)
            return plan
        longest = max(len(b) for b in per_dataset)
        return [batches[i] for i in range(longest) for batches in per_dataset if i < len(batches)]

    def __len__(self) -> int:
        return len(self.plan(0))

    def __iter__(self) -> Iterator[dict]:
        """The rest of the current epoch, then moves on to the next (so a resumed run picks up mid-epoch)."""
        plan = self.plan(self.epoch)
        while self.position < len(plan):
            index, rows = plan[self.position]
            self.position += 1
            yield self.datasets[index].batch(rows)
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
