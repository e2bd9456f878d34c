"""Masked-language-model pretraining of a small BERT from scratch: the raw model the lessons start from.

Where no MLM-only BERT can be had (no model hub), one is trained on local text (evaluation texts removed) to
show what mean-pooling a BERT that never saw a sentence-level objective is worth, before contrastive training.
Only what is MLM's own lives here and in mlm_data (masking, windows, the data stream, the model, its loss, the
held-out score); the loop, schedule, checkpoints and logging are the Trainer's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from embedlab.atomic import write_json
from embedlab.errors import EmbedlabError, check_positive_integers
from embedlab.evaluation.result import EvalResult
from embedlab.hardware import cpu_info
from embedlab.models.encoder import Encoder
from embedlab.models.model_files import quiet_transformers
from embedlab.training.checkpoint import MODEL_DIR, has_checkpoint
from embedlab.training.config import TrainConfig
from embedlab.training.mlm_data import IGNORE, MaskedWindows, mask_batch, pad_windows, split_held_out, token_windows
from embedlab.training.pretrain_corpus import PretrainCorpus, build_corpus
from embedlab.training.trainer import CHECKPOINT_DIR, Trainer, TrainReport

EVAL_BATCH = 128
REPORT_FILE = "pretrain_report.json"
SETTINGS_FILE = "pretrain_config.json"
# Fields that only change what is shown or where it goes, so a run may resume with them changed.
RESUMABLE_CHANGES = ("out", "log_every", "checkpoint_minutes", "threads")


@dataclass
class PretrainConfig:
    """Model shape, schedule and budget of an MLM run; every field is also an `embedlab pretrain` option."""

    out: str = "runs/pretrain/bert-mini-mlm"
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    max_length: int = 128
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    max_minutes: float = 45.0
    max_steps: int | None = None
    checkpoint_minutes: float = 5.0
    log_every: int = 50
    seed: int = 0
    # bf16 autocast runs much faster where the CPU has bf16 instructions (AVX512-BF16, AMX).
    bf16: bool = False
    # One thread beats two on a busy shared machine: threads that wait for each other stall every op.
    threads: int | None = None

    def __post_init__(self) -> None:
        check_positive_integers(self, ("layers", "hidden", "heads", "intermediate", "batch_size", "log_every"))
        if self.hidden % self.heads:
            raise EmbedlabError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.max_length < 3:
            raise EmbedlabError("max_length must leave room for [CLS], one token and [SEP] (at least 3)")
        if not 0 < self.mask_prob < 1 or not 0 <= self.warmup_fraction < 1:
            raise EmbedlabError("mask_prob must lie in (0, 1) and warmup_fraction in [0, 1)")
        if min(self.learning_rate, self.max_minutes, self.checkpoint_minutes) <= 0:
            raise EmbedlabError("learning_rate, max_minutes and checkpoint_minutes must be positive")
        check_positive_integers(self, ("max_steps", "threads"), optional=True)

    def train_config(self) -> TrainConfig:
        """The Trainer's settings for this run: no epoch limit, checkpoints by time, each scored on held-out text."""
        return TrainConfig(
            output_dir=self.out,
            epochs=None,
            max_steps=self.max_steps,
            max_minutes=self.max_minutes,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_ratio=self.warmup_fraction,
            weight_decay=self.weight_decay,
            bf16=self.bf16,
            seed=self.seed,
            eval_data=None,
            eval_every=None,
            checkpoint_every=None,
            checkpoint_minutes=self.checkpoint_minutes,
            log_every=self.log_every,
            save_best=False,
        )


# ---- model, loss, held-out score ---------------------------------------------------------------


class MaskedLanguageModel(nn.Module):
    """A BertForMaskedLM with its tokenizer and run settings, saved together as a Hugging Face directory."""

    def __init__(self, network, tokenizer, settings: dict) -> None:
        super().__init__()
        self.network, self.tokenizer, self.settings = network, tokenizer, settings

    @classmethod
    def create(cls, config: PretrainConfig, tokenizer) -> MaskedLanguageModel:
        """A freshly initialised BERT of the configured shape (initialised from torch's seeded RNG)."""
        from transformers import BertConfig, BertForMaskedLM

        shape = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=config.hidden,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=config.intermediate,
            # Positions past max_length would never be trained, so the model does not offer them.
            max_position_embeddings=config.max_length,
            pad_token_id=tokenizer.pad_token_id,
        )
        return cls(BertForMaskedLM(shape), tokenizer, asdict(config))

    def save(self, path: str | os.PathLike) -> Path:
        """Weights, config and tokenizer, written into `path` beside whatever else is there (reports)."""
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        self.tokenizer.model_max_length = self.network.config.max_position_embeddings
        with quiet_transformers():
            self.network.save_pretrained(target)
            self.tokenizer.save_pretrained(target)
        write_json(self.settings, target / SETTINGS_FILE)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> MaskedLanguageModel:
        from transformers import AutoTokenizer, BertForMaskedLM

        with quiet_transformers():
            network = BertForMaskedLM.from_pretrained(path).to(device or "cpu")
            tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(network, tokenizer, json.loads((Path(path) / SETTINGS_FILE).read_text(encoding="utf-8")))


def mlm_loss(network, inputs: Tensor, attention: Tensor, labels: Tensor) -> tuple[Tensor, int, int]:
    """Mean cross-entropy over the picked positions, and (right, picked) counts for accuracy."""
    hidden = network.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    picked = labels != IGNORE
    # The 30k-way output layer runs only where a token was picked: over every position it would cost several times more.
    logits = network.cls(hidden[picked])
    targets = labels[picked]
    loss = torch.nn.functional.cross_entropy(logits, targets)
    return loss, int((logits.argmax(-1) == targets).sum()), int(targets.numel())


class MaskedLanguageModelLoss(nn.Module):
    """`loss(model, batch)` for the Trainer; counts right predictions for the accuracy in the loss lines."""

    def __init__(self) -> None:
        super().__init__()
        self.right = self.picked = 0

    def forward(self, model: MaskedLanguageModel, batch: dict) -> Tensor:
        loss, right, picked = mlm_loss(model.network, batch["input_ids"], batch["attention_mask"], batch["labels"])
        self.right, self.picked = self.right + right, self.picked + picked
        return loss


class IntervalMetrics:
    """The Trainer's `metrics`: masked-token accuracy and tokens per second since the last reading."""

    def __init__(self, loss: MaskedLanguageModelLoss, windows: MaskedWindows) -> None:
        self.loss, self.windows = loss, windows
        self.tokens, self.since = windows.tokens, time.perf_counter()

    def __call__(self) -> dict[str, float]:
        now = time.perf_counter()
        readings = {
            "accuracy": self.loss.right / max(self.loss.picked, 1),
            "tokens_per_second": (self.windows.tokens - self.tokens) / max(now - self.since, 1e-9),
        }
        self.loss.right = self.loss.picked = 0
        self.tokens, self.since = self.windows.tokens, now
        return readings


def held_out_evaluator(
    windows: list[np.ndarray], tokenizer, mask_prob: float, seed: int
) -> Callable[[MaskedLanguageModel], EvalResult]:
    """MLM accuracy and loss on held-out windows, with the same masks every time so the numbers compare."""

    @torch.no_grad()
    def evaluate(model: MaskedLanguageModel) -> EvalResult:
        generator = torch.Generator().manual_seed(seed + 1)
        loss_sum, right, picked = 0.0, 0, 0
        for start in range(0, len(windows), EVAL_BATCH):
            ids, attention = pad_windows(windows[start : start + EVAL_BATCH], tokenizer.pad_token_id)
            inputs, labels = mask_batch(ids, tokenizer, mask_prob, generator)
            if (labels != IGNORE).any():
                loss, batch_right, batch_picked = mlm_loss(model.network, inputs, attention, labels)
                loss_sum, right, picked = (
                    loss_sum + float(loss) * batch_picked, right + batch_right, picked + batch_picked
                )
        metrics = {"mlm_accuracy": right / max(picked, 1), "loss": loss_sum / max(picked, 1), "masked_tokens": picked}
        return EvalResult("mlm", "held-out", "", metrics, main_metric="mlm_accuracy")

    return evaluate


# ---- the run -----------------------------------------------------------------------------------


def pretrain(config: PretrainConfig) -> Path:
    """Train from scratch, or on from the checkpoint in `out`, until max_steps or max_minutes; save and report.

    `out` becomes a Hugging Face BertForMaskedLM directory (safetensors, tokenizer, pretrain_report.json).
    Ctrl-C writes a checkpoint after the current step; running again continues from it exactly.
    """
    started = time.perf_counter()
    _check_resumable(config)
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        tokenizer = Encoder.load("minilm", device="cpu").tokenizer
        corpus = build_corpus()
        train_texts, held_out_texts = split_held_out(corpus.texts, config.seed)
        windows = MaskedWindows(
            token_windows(train_texts, tokenizer, config.max_length), tokenizer, config.batch_size, config.mask_prob,
            config.seed,
        )
        held_out = token_windows(held_out_texts, tokenizer, config.max_length)
        torch.manual_seed(config.seed)
        model = MaskedLanguageModel.create(config, tokenizer).train()
        loss = MaskedLanguageModelLoss()
        trainer = Trainer(
            config.train_config(),
            model,
            loss,
            windows,
            evaluate=held_out_evaluator(held_out, tokenizer, config.mask_prob, config.seed),
            metrics=IntervalMetrics(loss, windows),
            final_dir=Path(config.out),  # the model directory is `out` itself, as `embedlab pretrain` documents
        )
        report = trainer.train()
        _write_report(config, model, corpus, windows, len(held_out), report, started)
    finally:
        torch.set_num_threads(threads)  # the caller's setting, whatever this run used
    return Path(config.out)


def _check_resumable(config: PretrainConfig) -> None:
    """Refuse to continue a checkpoint with settings that change what the run computes."""
    checkpoint = Path(config.out) / CHECKPOINT_DIR
    if not has_checkpoint(checkpoint):
        return
    path = checkpoint / MODEL_DIR / SETTINGS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EmbedlabError(f"corrupt pretraining checkpoint: {path} is missing or unreadable") from None
    wanted = asdict(config)
    changed = [name for name in wanted if name not in RESUMABLE_CHANGES and saved.get(name) != wanted[name]]
    if changed:
        raise EmbedlabError(
            f"{checkpoint} is a checkpoint of a run with other settings ({', '.join(changed)} differ): "
            "use the same options to continue it, or another --out to start afresh"
        )


def _write_report(
    config: PretrainConfig,
    model: MaskedLanguageModel,
    corpus: PretrainCorpus,
    windows: MaskedWindows,
    held_out_windows: int,
    report: TrainReport,
    started: float,
) -> None:
    history = report.history
    content = {
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "corpus": corpus.report,
        "windows": {
            "train": len(windows.windows),
            "train_tokens": int(windows.lengths.sum()),
            "held_out": held_out_windows,
        },
        "steps": report.steps,
        "epochs": windows.epochs(),
        "tokens_seen": windows.tokens,
        "resumed_from_step": report.resumed_from,
        "train_minutes": report.total_seconds / 60,
        "wall_minutes_this_session": (time.perf_counter() - started) / 60,
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "held_out": report.evaluations[-1] if report.evaluations else None,
        "held_out_over_time": report.evaluations,
        "loss_curve": history,
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_info().model,
        "versions": {"torch": torch.__version__, "transformers": version("transformers")},
    }
    write_json(content, Path(config.out) / REPORT_FILE)
