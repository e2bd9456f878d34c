"""Training checkpoints that resume exactly: model, optimizer, sampler position, RNG, time spent and history.

The model is saved by its own `save` (a sentence-transformers or Hugging Face directory); the rest is tensors,
numbers and lists only, so it loads with `weights_only=True` and no pickled code ever runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from embedlab.atomic import atomic_directory
from embedlab.errors import EmbedlabError

STATE_FILE = "trainer_state.pt"
MODEL_DIR = "model"


class SavableModel(Protocol):
    """What training needs of a model beyond nn.Module: a directory it saves to and loads back from."""

    def save(self, path: str | os.PathLike) -> object: ...

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> SavableModel: ...


@dataclass
class TrainerState:
    """Everything besides the model weights that decides what the next step does, and what came before."""

    step: int
    optimizer: dict
    sampler: dict
    loss: dict
    torch_rng: torch.Tensor
    best_score: float | None = None
    seconds: float = 0.0  # training time of all sessions so far
    history: list[dict] = field(default_factory=list)  # a point per log interval: step, minutes, loss, ...
    evaluations: list[dict] = field(default_factory=list)


def save_checkpoint(directory: Path, model: SavableModel, state: TrainerState) -> Path:
    """Write model and trainer state as one directory, swapped in whole: never a new model beside an old state."""
    with atomic_directory(directory) as staging:
        model.save(staging / MODEL_DIR)
        torch.save(vars(state), staging / STATE_FILE)
    return directory


def load_trainer_state(directory: Path) -> TrainerState:
    """Read a checkpoint's trainer state; a missing or corrupt file is a one-line error."""
    path = directory / STATE_FILE
    if not path.is_file():
        raise EmbedlabError(f"{directory} is not a training checkpoint (no {STATE_FILE})")
    try:
        content = torch.load(path, weights_only=True)
        # Checkpoints of older versions also hold a learning-rate scheduler, which the schedule now recomputes.
        known = {item.name for item in dataclasses.fields(TrainerState)}
        return TrainerState(**{key: value for key, value in content.items() if key in known})
    except Exception as err:  # noqa: BLE001 - truncated zip, foreign pickle, missing keys: "not our checkpoint"
        raise EmbedlabError(f"corrupt training checkpoint {path}: {str(err).splitlines()[0]}") from None


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file() and (directory / MODEL_DIR).is_dir()


def remove_checkpoint(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
