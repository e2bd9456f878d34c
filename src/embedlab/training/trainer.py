"""The training loop: AdamW with warm-up and decay, accumulation, clipping, evaluation, exact resume.

It works on any loss of `embedlab.losses` and any batch stream that can report and restore its position.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from rich.console import Console
from torch import nn

from embedlab.atomic import write_json
from embedlab.models.encoder import Encoder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.progress import progress_bar
from embedlab.training import distributed
from embedlab.training.checkpoint import (
    TrainerState,
    has_checkpoint,
    load_trainer_state,
    remove_checkpoint,
    save_checkpoint,
)
from embedlab.training.config import TrainConfig
from embedlab.training.precision import training_precision

CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best"
FINAL_DIR = "final"
log = Console(stderr=True)


class BatchStream(Protocol):
    """Batches (dicts of columns) in a fixed order that can be resumed from a saved position."""

    def __iter__(self) -> Iterator[dict]: ...

    def __len__(self) -> int: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class TrainReport:
    """What a run did: steps, losses, evaluations and where the models went."""

    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    best_score: float | None = None
    output_dir: str = ""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up to 1, then linear decay to 0 at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def optimizer_for(model: nn.Module, loss: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW without weight decay on biases and norms (decaying them only hurts), loss parameters included."""
    decay, no_decay = [], []
    for module in (model, loss):
        for name, parameter in module.named_parameters():
            if parameter.requires_grad:
                (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


class Trainer:
    """Runs one configured training job; `train()` resumes from output_dir/checkpoint when one exists."""

    def __init__(
        self,
        config: TrainConfig,
        model: Encoder,
        loss: nn.Module,
        batches: BatchStream,
        evaluate: Callable[[Encoder], EvalResult] | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.loss = loss
        self.batches = batches
        self.evaluate = evaluate
        self.output = Path(config.output_dir)
        self.total_steps = config.max_steps or math.ceil(config.epochs * len(batches) / config.gradient_accumulation)
        if self.total_steps < 1:
            raise EmbedlabError("no training batches: the data is smaller than one batch")
        self.optimizer = optimizer_for(model, loss, config)
        warmup = int(config.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, linear_schedule(warmup, self.total_steps))
        self.step = 0
        self.best_score: float | None = None

    def _state(self) -> TrainerState:
        return TrainerState(
            step=self.step,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            sampler=self.batches.state_dict(),
            loss=self.loss.state_dict(),
            torch_rng=torch.get_rng_state(),
            best_score=self.best_score,
        )

    def _resume(self) -> None:
        directory = self.output / CHECKPOINT_DIR
        state = load_trainer_state(directory)
        # The checkpoint holds the same kind of model as the one training (Encoder, two towers, cross-encoder).
        self.model.load_state_dict(type(self.model).load(directory / "model", device="cpu").state_dict())
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        self.batches.load_state_dict(state.sampler)
        self.loss.load_state_dict(state.loss)
        torch.set_rng_state(state.torch_rng)
        self.step, self.best_score = state.step, state.best_score

    def _batches_forever(self) -> Iterator[dict]:
        # Each pass over the stream is one epoch; max_steps may ask for more than `epochs` passes.
        while True:
            yield from self.batches

    def train(self, resume: bool = True) -> TrainReport:
        """Train until total_steps; evaluates and checkpoints on the configured cadence."""
        if resume and has_checkpoint(self.output / CHECKPOINT_DIR):
            self._resume()
        report = TrainReport(output_dir=str(self.output), best_score=self.best_score)
        start, accumulation = time.perf_counter(), self.config.gradient_accumulation
        stream = self._batches_forever()
        self.model.train()
        leader = distributed.is_leader()
        precision = training_precision(self.model.device, self.config.bf16)
        scaler = precision.grad_scaler()
        with progress_bar(self.total_steps, "training", enabled=leader) as advance:
            advance(self.step)
            while self.step < self.total_steps:
                value = 0.0
                for _ in range(accumulation):
                    with precision.autocast():
                        loss = self.loss(self.model, distributed.shard(next(stream))) / accumulation
                    with torch.autocast(precision.device_type, enabled=False):  # a caller's autocast must not recast the backward
                        scaler.scale(loss).backward()
                    value += float(loss.detach())
                distributed.average_gradients(self.model, self.loss)
                scaler.unscale_(self.optimizer)  # clipping reads the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(list(self.model.parameters()) + list(self.loss.parameters()), self.config.max_grad_norm)
                scaler.step(self.optimizer)  # skipped when fp16 gradients overflowed; the scale then shrinks
                scaler.update()
                # Inside a caller's own autocast block the bf16 casts of the weights stay cached across steps:
                # every forward would then see the first step's weights while the real ones drift.
                torch.clear_autocast_cache()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                report.losses.append(value)
                advance(1)
                if leader:
                    self._periodic(report)
        report.steps, report.seconds = self.step, time.perf_counter() - start
        if leader:
            self._finish(report)
        return report

    def _periodic(self, report: TrainReport) -> None:
        last = self.step == self.total_steps
        if self.evaluate is not None and (self.step % self.config.eval_every == 0 or last):
            self._evaluate(report)
        if self.step % self.config.checkpoint_every == 0 and not last:
            save_checkpoint(self.output / CHECKPOINT_DIR, self.model, self._state())

    def _evaluate(self, report: TrainReport) -> None:
        self.model.eval()
        result = self.evaluate(self.model)
        self.model.train()
        report.evaluations.append({"step": self.step, result.main_metric: result.main_score})
        recent = report.losses[-self.config.eval_every :]
        # A line per evaluation survives in logs, where the transient progress bar does not.
        log.print(
            f"step {self.step}/{self.total_steps}  loss {sum(recent) / len(recent):.4f}  "
            f"{result.dataset} {result.main_metric} {100 * result.main_score:.2f}",
            highlight=False,
        )
        if self.best_score is None or result.main_score > self.best_score:
            self.best_score = report.best_score = result.main_score
            self.model.save(self.output / BEST_DIR)

    def _finish(self, report: TrainReport) -> None:
        self.model.eval()
        self.model.save(self.output / FINAL_DIR)
        # The final model supersedes the checkpoint; keeping it would make a re-run resume a finished job.
        remove_checkpoint(self.output / CHECKPOINT_DIR)
        write_json(
            {"config": self.config.to_dict(), **vars(report), "total_steps": self.total_steps},
            self.output / "train_report.json",
        )
