"""Masked-language-model pretraining of a small BERT from scratch: the raw model the lessons start from.

No MLM-only BERT can be downloaded here, so one is trained on local text (evaluation texts removed) to show
what mean-pooling a BERT that never saw a sentence-level objective is worth, before contrastive training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from embedlab.atomic import atomic_path, write_json
from embedlab.models.encoder import Encoder
from embedlab.models.model_files import quiet_transformers
from embedlab.errors import EmbedlabError
from embedlab.hardware import cpu_info
from embedlab.training.pretrain_corpus import build_corpus

IGNORE = -100  # the label cross-entropy skips: every position that was not picked for prediction
HELD_OUT_FRACTION = 0.01
EVAL_BATCH = 128
STATE_FILE = "training_state.pt"
REPORT_FILE = "pretrain_report.json"
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
    # bf16 autocast doubles CPU throughput where the CPU has bf16 instructions (AVX512-BF16, AMX).
    bf16: bool = False
    # One thread beats two on a busy shared machine: threads that wait for each other stall every op.
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "intermediate", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise EmbedlabError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.hidden % self.heads:
            raise EmbedlabError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.max_length < 3:
            raise EmbedlabError("max_length must leave room for [CLS], one token and [SEP] (at least 3)")
        if not 0 < self.mask_prob < 1 or not 0 <= self.warmup_fraction < 1:
            raise EmbedlabError("mask_prob must lie in (0, 1) and warmup_fraction in [0, 1)")
        if min(self.learning_rate, self.max_minutes, self.checkpoint_minutes) <= 0:
            raise EmbedlabError("learning_rate, max_minutes and checkpoint_minutes must be positive")
        for name in ("max_steps", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise EmbedlabError(f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class Status:
    """Where a run stands after a step, for progress displays; `logged` marks a new point of the loss curve."""

    step: int
    fraction: float  # of the budget spent: the larger of steps / max_steps and minutes / max_minutes
    loss: float  # mean over the current log interval
    accuracy: float  # masked tokens predicted right, over the current log interval
    tokens_per_second: float
    learning_rate: float
    logged: bool
    held_out_accuracy: float | None = None  # set on the step right after a checkpoint's evaluation


def mask_tokens(
    input_ids: Tensor, special: Tensor, mask_id: int, vocab_size: int, prob: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """BERT's rule: pick `prob` of the real tokens; of those 80% become [MASK], 10% a random token, 10% stay.

    `special` marks [CLS]/[SEP]/padding, which are never picked. Returns (inputs, labels: -100 unless picked).
    """
    picked = (torch.rand(input_ids.shape, generator=generator) < prob) & ~special
    labels = torch.where(picked, input_ids, IGNORE)
    draw = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs = torch.where(picked & (draw < 0.8), mask_id, input_ids)
    inputs = torch.where(picked & (draw >= 0.8) & (draw < 0.9), random_ids, inputs)
    return inputs, labels


def mask_batch(ids: Tensor, tokenizer, prob: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """mask_tokens with the tokenizer's special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) never picked."""
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    return mask_tokens(ids, special, tokenizer.mask_token_id, tokenizer.vocab_size, prob, generator)


def token_windows(texts: list[str], tokenizer, max_length: int) -> list[np.ndarray]:
    """Each text as `[CLS] tokens [SEP]` windows of at most max_length; a long document gives several."""
    body = max_length - 2
    with quiet_transformers():  # documents over 512 tokens trigger a warning meant for model inputs
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    windows = []
    for ids in encoded:
        for start in range(0, len(ids), body):
            windows.append(np.array([tokenizer.cls_token_id, *ids[start : start + body], tokenizer.sep_token_id]))
    return windows


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """One epoch's batches of window indices: similar lengths together (little padding), in random order.

    Fixed by (seed, epoch) alone, so a resumed run replays the order from its saved position.
    """
    rng = np.random.default_rng([seed, epoch])
    shuffled = rng.permutation(len(lengths))
    by_length = shuffled[np.argsort(lengths[shuffled], kind="stable")]
    batches = [by_length[start : start + batch_size] for start in range(0, len(by_length), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_windows(windows: list[np.ndarray], pad_id: int) -> tuple[Tensor, Tensor]:
    """(input ids, attention mask) of a batch, padded to its longest window."""
    ids = torch.full((len(windows), max(len(w) for w in windows)), pad_id, dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.from_numpy(window)
    return ids, (ids != pad_id).long()


def mlm_loss(model, inputs: Tensor, attention: Tensor, labels: Tensor) -> tuple[Tensor, int, int]:
    """Mean cross-entropy over the picked positions, and (right, picked) counts for accuracy."""
    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    picked = labels != IGNORE
    # The 30k-way output layer runs only where a token was picked: over every position it would cost ~7x more.
    logits = model.cls(hidden[picked])
    targets = labels[picked]
    loss = torch.nn.functional.cross_entropy(logits, targets)
    return loss, int((logits.argmax(-1) == targets).sum()), int(targets.numel())


def learning_rate_factor(fraction: float, warmup: float) -> float:
    """Linear warm-up over the first `warmup` of the budget, then linear decay to 0 at its end."""
    if fraction < warmup:
        return fraction / warmup
    return max(0.0, (1 - fraction) / (1 - warmup))


def split_held_out(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(training, held-out) texts: 1% of whole texts, so no held-out window shares a document with training."""
    order = np.random.default_rng(seed).permutation(len(texts))
    count = max(1, int(len(texts) * HELD_OUT_FRACTION))
    return [texts[i] for i in sorted(order[count:])], [texts[i] for i in sorted(order[:count])]


def pretrain(config: PretrainConfig, on_step: Callable[[Status], None] | None = None) -> Path:
    """Train from scratch, or on from the checkpoint in `out`, until max_steps or max_minutes; save and report.

    `out` becomes a Hugging Face BertForMaskedLM directory (safetensors, tokenizer, pretrain_report.json).
    """
    started = time.perf_counter()
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        run = _MlmRun(config)
        try:
            run.train(on_step or (lambda status: None))
        except KeyboardInterrupt:
            run.save_state()  # Ctrl-C loses nothing: running the same command again continues from here
            raise
        run.finish(started)
    finally:
        torch.set_num_threads(threads)  # the caller's setting, whatever this run used
    return Path(config.out)


class _MlmRun:
    """One run's model, optimizer, data and position; everything a checkpoint must restore lives here."""

    def __init__(self, config: PretrainConfig) -> None:
        from transformers import BertConfig, BertForMaskedLM

        self.config = config
        self.out = Path(config.out)
        self.tokenizer = Encoder.load("minilm", device="cpu").tokenizer
        self.corpus = build_corpus()
        train_texts, held_out_texts = split_held_out(self.corpus.texts, config.seed)
        self.train_windows = token_windows(train_texts, self.tokenizer, config.max_length)
        self.held_out_windows = token_windows(held_out_texts, self.tokenizer, config.max_length)
        self.lengths = np.array([len(w) for w in self.train_windows])
        torch.manual_seed(config.seed)
        self.model = BertForMaskedLM(
            BertConfig(
                vocab_size=self.tokenizer.vocab_size,
                hidden_size=config.hidden,
                num_hidden_layers=config.layers,
                num_attention_heads=config.heads,
                intermediate_size=config.intermediate,
                # Positions past max_length would never be trained, so the model does not offer them.
                max_position_embeddings=config.max_length,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        ).train()
        # Biases and LayerNorm gains are not decayed (BERT's recipe): pulling them to 0 only hurts.
        matrices = [p for p in self.model.parameters() if p.ndim >= 2]
        vectors = [p for p in self.model.parameters() if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": matrices, "weight_decay": config.weight_decay}, {"params": vectors, "weight_decay": 0.0}],
            lr=config.learning_rate,
        )
        self.mask_generator = torch.Generator().manual_seed(config.seed)
        self.step = self.epoch = self.batch = self.tokens = 0
        self.seconds = 0.0  # training time of earlier sessions of this run
        self.curve: list[dict] = []
        self.evaluations: list[dict] = []
        self.resumed_from: int | None = None
        if (self.out / STATE_FILE).is_file():
            self._load_state()
        self.batches = epoch_batches(self.lengths, config.batch_size, config.seed, self.epoch)

    # ---- training ------------------------------------------------------------------------------

    def train(self, on_step: Callable[[Status], None]) -> None:
        """Step until the budget is spent, logging, checkpointing and reporting to `on_step` on the way."""
        config = self.config
        self.session_start = last_checkpoint = time.perf_counter()
        interval = _Interval()
        finished = self.done()
        while not finished:
            outcome = self._train_step()
            if outcome is None:
                continue
            interval.add(*outcome)
            # One reading of the clock decides both the last curve point and the stop, so they agree.
            finished = self.done()
            logged = self.step % config.log_every == 0 or finished
            learning_rate = self.optimizer.param_groups[0]["lr"]
            if logged:
                self.curve.append(
                    {
                        "step": self.step,
                        "minutes": self.elapsed() / 60,
                        **interval.summary(),
                        "learning_rate": learning_rate,
                    }
                )
            held_out = None
            if time.perf_counter() - last_checkpoint >= config.checkpoint_minutes * 60:
                held_out = self.evaluate()["mlm_accuracy"]
                self.save_state()
                last_checkpoint = time.perf_counter()
            summary = interval.summary()
            on_step(
                Status(
                    self.step,
                    self.fraction(),
                    summary["loss"],
                    summary["accuracy"],
                    summary["tokens_per_second"],
                    learning_rate,
                    logged,
                    held_out,
                )
            )
            if logged:
                interval = _Interval()

    def _train_step(self) -> tuple[float, int, int, int] | None:
        """One optimizer step on the next batch: (loss, right, picked, real tokens), or None if nothing was masked."""
        config = self.config
        windows = [self.train_windows[i] for i in self.batches[self.batch]]
        self._advance_cursor()
        ids, attention = pad_windows(windows, self.tokenizer.pad_token_id)
        inputs, labels = mask_batch(ids, self.tokenizer, config.mask_prob, self.mask_generator)
        if not (labels != IGNORE).any():
            return None  # only possible for a batch of a few tiny windows; nothing to learn from it
        factor = learning_rate_factor(self.schedule_fraction(), config.warmup_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate * factor
        with self._autocast():
            loss, right, picked = mlm_loss(self.model, inputs, attention, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        torch.clear_autocast_cache()  # stale bf16 weight casts under a caller's autocast, as in Trainer
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        tokens = int(attention.sum())
        self.tokens += tokens
        return float(loss.detach()), right, picked, tokens

    def elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self.session_start

    def schedule_fraction(self) -> float:
        """How far the learning-rate schedule is: by steps when max_steps is set (repeatable), else by time."""
        if self.config.max_steps is not None:
            return self.step / self.config.max_steps
        return self.elapsed() / (self.config.max_minutes * 60)

    def fraction(self) -> float:
        by_time = self.elapsed() / (self.config.max_minutes * 60)
        return max(by_time, self.step / self.config.max_steps) if self.config.max_steps else by_time

    def done(self) -> bool:
        return self.fraction() >= 1

    def _advance_cursor(self) -> None:
        self.batch += 1
        if self.batch == len(self.batches):
            self.epoch, self.batch = self.epoch + 1, 0
            self.batches = epoch_batches(self.lengths, self.config.batch_size, self.config.seed, self.epoch)

    def _autocast(self) -> torch.autocast:
        # Weights, optimizer state and the loss stay float32; only matrix products run in bf16.
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """MLM loss and accuracy on the held-out texts, with the same masks every time so numbers compare."""
        generator = torch.Generator().manual_seed(self.config.seed + 1)
        self.model.eval()
        loss_sum, right, picked = 0.0, 0, 0
        for start in range(0, len(self.held_out_windows), EVAL_BATCH):
            ids, attention = pad_windows(self.held_out_windows[start : start + EVAL_BATCH], self.tokenizer.pad_token_id)
            inputs, labels = mask_batch(ids, self.tokenizer, self.config.mask_prob, generator)
            if (labels != IGNORE).any():
                with self._autocast():
                    loss, batch_right, batch_picked = mlm_loss(self.model, inputs, attention, labels)
                loss_sum, right, picked = (
                    loss_sum + float(loss) * batch_picked,
                    right + batch_right,
                    picked + batch_picked,
                )
        self.model.train()
        result = {
            "step": self.step,
            "minutes": self.elapsed() / 60,
            "mlm_accuracy": right / max(picked, 1),
            "loss": loss_sum / max(picked, 1),
            "masked_tokens": picked,
        }
        self.evaluations.append(result)
        return result

    # ---- checkpoints and results ---------------------------------------------------------------

    def save_state(self) -> None:
        """Model, optimizer, data position and random states: enough to continue exactly where this stopped."""
        state = {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "tokens": self.tokens,
            "seconds": self.elapsed(),
            "mask_rng": self.mask_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "curve": self.curve,
            "evaluations": self.evaluations,
        }
        with atomic_path(self.out / STATE_FILE) as partial:
            torch.save(state, partial)

    def _load_state(self) -> None:
        path = self.out / STATE_FILE
        try:
            state = torch.load(path, weights_only=True)
        except Exception as err:  # truncated or foreign files fail in many ways; all mean "not our checkpoint"
            raise EmbedlabError(f"corrupt pretraining checkpoint {path}: {str(err).splitlines()[0]}") from None
        saved, wanted = state["config"], asdict(self.config)
        changed = [name for name in wanted if name not in RESUMABLE_CHANGES and saved.get(name) != wanted[name]]
        if changed:
            raise EmbedlabError(
                f"{path} is a checkpoint of a run with other settings ({', '.join(changed)} differ): "
                "use the same options to continue it, or another --out to start afresh"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.batch, self.tokens = state["step"], state["epoch"], state["batch"], state["tokens"]
        self.seconds = state["seconds"]
        self.mask_generator.set_state(state["mask_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.curve, self.evaluations = state["curve"], state["evaluations"]
        self.resumed_from = self.step

    def finish(self, started: float) -> None:
        """Evaluate, checkpoint, and write the model directory and its report (`started`: when pretrain began)."""
        held_out = self.evaluate()
        self.save_state()
        self.tokenizer.model_max_length = self.config.max_length
        with quiet_transformers():
            self.model.save_pretrained(self.out)
            self.tokenizer.save_pretrained(self.out)
        curve = self.curve
        report = {
            "config": asdict(self.config),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "corpus": self.corpus.report,
            "windows": {
                "train": len(self.train_windows),
                "train_tokens": int(self.lengths.sum()),
                "held_out": len(self.held_out_windows),
            },
            "steps": self.step,
            "epochs": self.epoch + self.batch / len(self.batches),
            "tokens_seen": self.tokens,
            "resumed_from_step": self.resumed_from,
            "train_minutes": self.elapsed() / 60,
            "wall_minutes_this_session": (time.perf_counter() - started) / 60,
            "first_loss": curve[0]["loss"] if curve else None,
            "final_loss": curve[-1]["loss"] if curve else None,
            "held_out": held_out,
            "held_out_over_time": self.evaluations,
            "loss_curve": curve,
            "torch_threads": torch.get_num_threads(),
            "cpu": cpu_info().model,
            "versions": {"torch": torch.__version__, "transformers": version("transformers")},
        }
        write_json(report, self.out / REPORT_FILE)


class _Interval:
    """Running sums over one log interval, for the loss curve and the progress display."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps, self.loss, self.right, self.picked, self.tokens = 0, 0.0, 0, 0, 0

    def add(self, loss: float, right: int, picked: int, tokens: int) -> None:
        self.steps, self.loss = self.steps + 1, self.loss + loss
        self.right, self.picked, self.tokens = self.right + right, self.picked + picked, self.tokens + tokens

    def summary(self) -> dict:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        return {
            "loss": self.loss / max(self.steps, 1),
            "accuracy": self.right / max(self.picked, 1),
            "tokens_per_second": self.tokens / seconds,
        }
