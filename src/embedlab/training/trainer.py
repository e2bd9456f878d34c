"""The training loop: AdamW with warm-up and decay, accumulation, clipping, evaluation, logging, exact resume.

It works on any loss called as `loss(model, batch)` and any batch stream that can report and restore its
position: contrastive training (embedlab.losses) and MLM pretraining (training.mlm) both run on it.
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
from torch import nn

from embedlab.atomic import write_json
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.training import distributed
from embedlab.training.checkpoint import (
    SavableModel,
    TrainerState,
    has_checkpoint,
    load_trainer_state,
    remove_checkpoint,
    save_checkpoint,
)
from embedlab.training.config import TrainConfig
from embedlab.training.interrupt import StepBoundaryInterrupt
from embedlab.training.precision import training_precision
from embedlab.training.schedule import Budget, learning_rate_factor
from embedlab.training.step_log import StepLog

CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best"
FINAL_DIR = "final"
LOG_POINTS = 10  # without log_every, a loss line and history point every tenth of the run
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


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
    seconds: float = 0.0  # this session
    losses: list[float] = field(default_factory=list)  # every step of this session
    evaluations: list[dict] = field(default_factory=list)  # all sessions
    best_score: float | None = None
    output_dir: str = ""
    total_seconds: float = 0.0  # training time of all sessions
    history: list[dict] = field(default_factory=list)  # a point per log interval, all sessions
    resumed_from: int | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def optimizer_for(model: nn.Module, loss: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW without weight decay on biases and norms (decaying them only hurts), loss parameters included."""
    decay, no_decay = [], []
    for module in (model, loss):
        for name, parameter in module.named_parameters():
            if parameter.requires_grad:
                (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all tensors in one pass; torch's default on a CPU is a Python loop over them, several
    # times slower per step (docs/benchmarks/training_peer.md). Other devices keep torch's own choice.
    fused = all(p.device.type in FUSED_ADAMW_DEVICES for group in groups for p in group["params"]) or None
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)


class Trainer:
    """Runs one configured training job; `train()` resumes from output_dir/checkpoint when one exists.

    `metrics`, when given, is read at every log interval and adds its numbers (since its last reading) to the
    loss line and the history; `final_dir` is where the final model goes (default output_dir/final).
    """

    def __init__(
        self,
        config: TrainConfig,
        model: SavableModel,
        loss: nn.Module,
        batches: BatchStream,
        evaluate: Callable[[SavableModel], EvalResult] | None = None,
        metrics: Callable[[], dict[str, float]] | None = None,
        final_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.loss = loss
        self.batches = batches
        self.evaluate = evaluate
        self.metrics = metrics
        self.output = Path(config.output_dir)
        self.final_dir = final_dir or self.output / FINAL_DIR
        if len(batches) < 1:
            raise EmbedlabError("no training batches: the data is smaller than one batch")
        if config.max_minutes is not None and distributed.world_size() > 1:
            raise EmbedlabError("max_minutes needs a single process: the processes' clocks would disagree on the end")
        epoch_steps = math.ceil(config.epochs * len(batches) / config.gradient_accumulation) if config.epochs else None
        minutes = config.max_minutes
        self.budget = Budget(config.max_steps or epoch_steps, None if minutes is None else minutes * 60)
        self.optimizer = optimizer_for(model, loss, config)
        self.step = 0
        self.best_score: float | None = None
        self.seconds = 0.0  # training time of earlier sessions
        self._session_start: float | None = None
        self.history: list[dict] = []
        self.evaluations: list[dict] = []

    def _state(self) -> TrainerState:
        return TrainerState(
            step=self.step,
            optimizer=self.optimizer.state_dict(),
            sampler=self.batches.state_dict(),
            loss=self.loss.state_dict(),
            torch_rng=torch.get_rng_state(),
            best_score=self.best_score,
            seconds=self._elapsed(),
            history=self.history,
            evaluations=self.evaluations,
        )

    def _resume(self) -> None:
        directory = self.output / CHECKPOINT_DIR
        state = load_trainer_state(directory)
        # The checkpoint holds the same kind of model as the one training (Encoder, two towers, cross-encoder, MLM).
        self.model.load_state_dict(type(self.model).load(directory / "model", device="cpu").state_dict())
        self.optimizer.load_state_dict(state.optimizer)
        self.batches.load_state_dict(state.sampler)
        self.loss.load_state_dict(state.loss)
        torch.set_rng_state(state.torch_rng)
        self.step, self.best_score, self.seconds = state.step, state.best_score, state.seconds
        self.history, self.evaluations = state.history, state.evaluations

    def _batches_forever(self) -> Iterator[dict]:
        # Each pass over the stream is one epoch; max_steps may ask for more than `epochs` passes.
        while True:
            yield from self.batches

    def _elapsed(self) -> float:
        if self._session_start is None:
            return self.seconds
        return self.seconds + time.perf_counter() - self._session_start

    def _fraction(self) -> float:
        return self.budget.fraction(self.step, self._elapsed())

    def train(self, resume: bool = True) -> TrainReport:
        """Train until the budget is spent; evaluates, logs and checkpoints on the configured cadence.

        Ctrl-C waits for the current step to end, writes a checkpoint and raises KeyboardInterrupt.
        """
        self._session_start = time.perf_counter()
        report = TrainReport(output_dir=str(self.output))
        if resume and has_checkpoint(self.output / CHECKPOINT_DIR):
            self._resume()
            report.resumed_from = self.step
        stream = self._batches_forever()
        self.model.train()
        leader = distributed.is_leader()
        self._last_checkpoint = self._elapsed()
        self._interval: list[float] = []
        self._logged_share = _log_point(self._fraction())
        # Chosen here, not at construction: a caller may change config.bf16 or move the model in between.
        self._precision = training_precision(next(self.model.parameters()).device, self.config.bf16)
        self._scaler = self._precision.grad_scaler()
        step_log = StepLog("training", self.budget.total_steps, self.config.log_seconds, enabled=leader)
        with step_log, StepBoundaryInterrupt() as interrupt:
            self._log = step_log
            step_log.start_at(self.step, self._fraction())
            finished, step_seconds = self._fraction() >= 1, 0.0
            while not finished:
                started = time.perf_counter()
                value = self._train_step(stream, step_seconds)
                step_seconds = time.perf_counter() - started
                report.losses.append(value)
                self._interval.append(value)
                # One reading of the clock decides both the end and what happens at it, so they agree.
                fraction = self._fraction()
                finished = fraction >= 1
                point = self._record() if self._log_due(fraction, finished) else None
                step_log.advance(self.step, fraction, value, point)
                if leader:
                    self._evaluate_and_checkpoint(finished)
                if interrupt.requested:
                    if leader:
                        save_checkpoint(self.output / CHECKPOINT_DIR, self.model, self._state())
                    raise KeyboardInterrupt
        report.steps, report.seconds = self.step, time.perf_counter() - self._session_start
        report.total_seconds, report.history, report.evaluations = self._elapsed(), self.history, self.evaluations
        report.best_score = self.best_score
        if leader:
            self._finish(report)
        return report

    def _train_step(self, stream: Iterator[dict], last_step_seconds: float) -> float:
        """One optimizer step over `gradient_accumulation` batches; returns its loss."""
        start, end = self.budget.step_span(self.step, self._elapsed(), last_step_seconds)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * learning_rate_factor(start, end, self.config.warmup_ratio)
        value, accumulation = 0.0, self.config.gradient_accumulation
        precision, scaler = self._precision, self._scaler
        for _ in range(accumulation):
            with precision.autocast():
                loss = self.loss(self.model, distributed.shard(next(stream))) / accumulation
            # A caller's autocast must not recast the backward.
            with torch.autocast(precision.device_type, enabled=False):
                scaler.scale(loss).backward()
            value += float(loss.detach())
        distributed.average_gradients(self.model, self.loss)
        scaler.unscale_(self.optimizer)  # clipping reads the true gradients, not the fp16-scaled ones
        parameters = list(self.model.parameters()) + list(self.loss.parameters())
        torch.nn.utils.clip_grad_norm_(parameters, self.config.max_grad_norm)
        scaler.step(self.optimizer)  # skipped when fp16 gradients overflowed; the scale then shrinks
        scaler.update()
        # Inside a caller's own autocast block the bf16 casts of the weights stay cached across steps:
        # every forward would then see the first step's weights while the real ones drift.
        torch.clear_autocast_cache()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return value

    def _log_due(self, fraction: float, finished: bool) -> bool:
        if self.config.log_every is not None:
            return finished or self.step % self.config.log_every == 0
        share, self._logged_share = self._logged_share, _log_point(fraction)
        return finished or self._logged_share > share

    def _record(self) -> dict[str, float]:
        """A point of the history: mean loss since the last point, learning rate, metrics; also the line's fields."""
        fields = {"loss": sum(self._interval) / len(self._interval), "lr": self.optimizer.param_groups[0]["lr"]}
        fields.update(self.metrics() if self.metrics is not None else {})
        self._interval = []
        self.history.append({"step": self.step, "minutes": self._elapsed() / 60, **fields})
        return fields

    def _evaluate_and_checkpoint(self, finished: bool) -> None:
        config = self.config
        checkpoint_now = not finished and (
            (config.checkpoint_every is not None and self.step % config.checkpoint_every == 0)
            or (
                config.checkpoint_minutes is not None
                and self._elapsed() - self._last_checkpoint >= config.checkpoint_minutes * 60
            )
        )
        evaluate_now = self.step % config.eval_every == 0 if config.eval_every is not None else checkpoint_now
        if self.evaluate is not None and (evaluate_now or finished):
            self._evaluate()
        if checkpoint_now:
            save_checkpoint(self.output / CHECKPOINT_DIR, self.model, self._state())
            self._last_checkpoint = self._elapsed()

    def _evaluate(self) -> None:
        self.model.eval()
        result = self.evaluate(self.model)
        self.model.train()
        self.evaluations.append({"step": self.step, "minutes": self._elapsed() / 60, **result.metrics})
        # A line per evaluation survives in logs, where the transient progress bar does not.
        self._log.print(f"step {self.step}: {result.dataset} {result.main_metric} {100 * result.main_score:.2f}")
        if self.best_score is None or result.main_score > self.best_score:
            self.best_score = result.main_score
            if self.config.save_best:
                self.model.save(self.output / BEST_DIR)

    def _finish(self, report: TrainReport) -> None:
        self.model.eval()
        self.model.save(self.final_dir)
        # The final model supersedes the checkpoint; keeping it would make a re-run resume a finished job.
        remove_checkpoint(self.output / CHECKPOINT_DIR)
        write_json(
            {"config": self.config.to_dict(), **vars(report), "total_steps": self.budget.total_steps},
            self.output / "train_report.json",
        )


def _log_point(fraction: float) -> int:
    # The allowance keeps step 6 of 20 at point 3 although 0.3 * 10 may come out as 2.9999...
    return math.floor(fraction * LOG_POINTS + 1e-9)
