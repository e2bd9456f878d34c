"""InfoNCE on a 2-D projection of frozen embeddings: small enough to watch step by step.

Positives are pulled together and the other pairs pushed apart on the unit circle, the geometry InfoNCE sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from embedlab.errors import EmbedlabError
from embedlab.losses.infonce import InfoNCEConfig, infonce_from_embeddings


@dataclass(frozen=True)
class ProjectionConfig:
    """A run: `steps` Adam steps of rate `lr` on batches of `batch_size` pairs, InfoNCE at `temperature`."""

    temperature: float = 0.1
    batch_size: int = 4
    steps: int = 60
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise EmbedlabError(f"batch_size must be at least 2 (one pair has no negatives), not {self.batch_size}")
        if self.steps < 1 or not self.lr > 0 or not self.temperature > 0:
            raise EmbedlabError(
                f"steps, lr and temperature must be positive, got {self.steps}, {self.lr}, {self.temperature}"
            )


@dataclass
class ProjectionRun:
    """Unit 2-D points before training and after each step (frames x 2n x 2: anchors, then positives) and the
    InfoNCE loss over all pairs at each frame."""

    frames: list[np.ndarray] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def train_projection(
    anchors: np.ndarray, positives: np.ndarray, config: ProjectionConfig = ProjectionConfig()
) -> ProjectionRun:
    """Train a bias-free d -> 2 linear head with InfoNCE on the pairs (anchors[i], positives[i]).

    Batches walk through a fresh shuffle of the pairs each epoch; the whole-set loss is what the curve shows.
    """
    a, p = (
        torch.as_tensor(np.asarray(anchors), dtype=torch.float32),
        torch.as_tensor(np.asarray(positives), dtype=torch.float32),
    )
    if a.shape != p.shape or a.ndim != 2 or len(a) < 2:
        raise EmbedlabError(
            f"need at least 2 aligned pairs of vectors, got shapes {tuple(a.shape)} and {tuple(p.shape)}"
        )
    if config.batch_size > len(a):
        raise EmbedlabError(f"batch_size {config.batch_size} is larger than the {len(a)} pairs")
    generator = torch.Generator().manual_seed(config.seed)
    head = nn.Linear(a.shape[1], 2, bias=False)
    nn.init.normal_(head.weight, generator=generator)
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr)
    loss_config = InfoNCEConfig(temperature=config.temperature)
    run = ProjectionRun()

    def record() -> None:
        with torch.no_grad():
            pa, pp = head(a), head(p)
            run.losses.append(float(infonce_from_embeddings(pa, pp, config=loss_config)))
            run.frames.append(nn.functional.normalize(torch.cat([pa, pp]), dim=1).numpy())

    record()
    order = torch.randperm(len(a), generator=generator)
    cursor = 0
    for _ in range(config.steps):
        if cursor + config.batch_size > len(a):
            order, cursor = torch.randperm(len(a), generator=generator), 0
        batch = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        loss = infonce_from_embeddings(head(a[batch]), head(p[batch]), config=loss_config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        record()
    return run
