"""Training checkpoints that resume exactly: model, optimizer, scheduler, sampler position and RNG.

The model is a normal sentence-transformers directory; the rest is tensors and numbers only, so it
loads with `weights_only=True` and no pickled code ever runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from embedlab.atomic import atomic_path
from embedlab.errors import EmbedlabError
from embedlab.models.encoder import Encoder

STATE_FILE = "trainer_state.pt"
MODEL_DIR = "model"


@dataclass
class TrainerState:
    """Everything besides the model weights that decides what the next step does."""

    step: int
    optimizer: dict
    scheduler: dict
    sampler: dict
    loss: dict
    torch_rng: torch.Tensor
    best_score: float | None = None


def save_checkpoint(directory: Path, model: Encoder, state: TrainerState) -> Path:
    """Write model and trainer state; the model goes through Encoder.save, which swaps directories in atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_DIR)
    with atomic_path(directory / STATE_FILE) as partial:
        torch.save(vars(state), partial)
    return directory


def load_trainer_state(directory: Path) -> TrainerState:
    """Read a checkpoint's trainer state; a missing or corrupt file is a one-line error."""
    path = directory / STATE_FILE
    if not path.is_file():
        raise EmbedlabError(f"{directory} is not a training checkpoint (no {STATE_FILE})")
    try:
        content = torch.load(path, weights_only=True)
        return TrainerState(**content)
    except Exception as err:  # noqa: BLE001 - truncated zip, foreign pickle, missing keys: "not our checkpoint"
        raise EmbedlabError(f"corrupt training checkpoint {path}: {str(err).splitlines()[0]}") from None


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file() and (directory / MODEL_DIR).is_dir()


def remove_checkpoint(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
