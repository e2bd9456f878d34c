"""Masked-language-model pretraining of a small BERT from scratch: the raw model the lessons start from.

No MLM-only BERT can be downloaded here, so we make one on local text (evaluation texts removed) and
show what its pooled embeddings are worth before and after contrastive training.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from embedlab.atomic import write_json
from embedlab.encoder import Encoder, quiet_transformers
from embedlab.progress import progress_bar
from embedlab.training.pretrain_corpus import build_corpus

IGNORE = -100


@dataclass
class PretrainConfig:
    """A small BERT (MiniLM's WordPiece vocabulary) and how long to train it."""

    out: str = "runs/pretrain/bert-mini-mlm"
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    max_length: int = 64
    batch_size: int = 128
    learning_rate: float = 5e-4
    warmup_fraction: float = 0.05
    mask_prob: float = 0.15
    max_minutes: float = 45.0
    max_steps: int | None = None
    seed: int = 0


def mask_tokens(
    input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int, prob: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's rule: pick `prob` of the real tokens; of those 80% become [MASK], 10% a random token, 10% stay.

    `special` marks [CLS]/[SEP]/padding, which are never picked. Returns (inputs, labels with -100 elsewhere).
    """
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    draw = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (draw < 0.8)] = mask_id
    randomised = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[randomised] = torch.randint(vocab_size, input_ids.shape, generator=generator)[randomised]
    return inputs, labels


def chunk_token_ids(texts: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Token id windows of at most max_length (with [CLS] and [SEP]); long texts give several windows."""
    body = max_length - 2
    windows = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        for start in range(0, max(len(ids), 1), body):
            piece = ids[start : start + body]
            if piece:
                windows.append([tokenizer.cls_token_id, *piece, tokenizer.sep_token_id])
    return windows


def _batch(windows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.tensor(window)
    return ids, (ids != pad_id).long()


def _mlm_loss(model, ids, attention, labels) -> tuple[torch.Tensor, torch.Tensor]:
    # Logits only where a token was masked: the 30k-word output layer over every position would cost 7x more.
    hidden = model.bert(input_ids=ids, attention_mask=attention).last_hidden_state
    picked = labels != IGNORE
    logits = model.cls(hidden[picked])
    loss = torch.nn.functional.cross_entropy(logits, labels[picked])
    return loss, (logits.argmax(-1) == labels[picked]).float().mean()


def pretrain(config: PretrainConfig) -> Path:
    """Train from scratch until max_steps or max_minutes; save a Hugging Face directory and a report."""
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = Encoder.load().tokenizer
    texts, corpus_report = build_corpus()
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    windows = chunk_token_ids(texts, tokenizer, config.max_length)
    order = torch.randperm(len(windows), generator=generator).tolist()
    held_out = [windows[i] for i in order[: max(1, len(order) // 100)]]
    train = [windows[i] for i in order[len(held_out) :]]
    bert_config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=config.hidden, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, intermediate_size=config.intermediate,
        max_position_embeddings=max(config.max_length, 64),
    )
    model = BertForMaskedLM(bert_config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    budget = config.max_minutes * 60
    start, step, losses = time.perf_counter(), 0, []

    def progress_fraction() -> float:
        by_time = (time.perf_counter() - start) / budget
        return max(by_time, step / config.max_steps) if config.max_steps else by_time

    def mask(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
        return mask_tokens(ids, special, tokenizer.mask_token_id, tokenizer.vocab_size, config.mask_prob, generator)

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    with progress_bar(100, "pretraining (% of budget)", enabled=True) as advance:
        shown = 0
        while progress_fraction() < 1:
            if step % steps_per_epoch == 0:
                order = torch.randperm(len(train), generator=generator).tolist()
            rows = order[(step % steps_per_epoch) * config.batch_size :][: config.batch_size]
            ids, attention = _batch([train[i] for i in rows], tokenizer.pad_token_id)
            inputs, labels = mask(ids)
            fraction = progress_fraction()
            scale = min(1.0, fraction / config.warmup_fraction) * (1 - fraction)
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * max(scale, 0.0)
            loss, _ = _mlm_loss(model, inputs, attention, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            now = min(100, int(100 * progress_fraction()))
            advance(now - shown)
            shown = now
    window = max(1, min(50, step // 4))
    accuracy = _held_out_accuracy(model, held_out, tokenizer.pad_token_id, mask)
    out = Path(config.out)
    with quiet_transformers():
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    write_json(
        {
            "config": asdict(config),
            "corpus": corpus_report,
            "windows": {"train": len(train), "held_out": len(held_out)},
            "steps": step,
            "epochs": step / steps_per_epoch,
            "minutes": (time.perf_counter() - start) / 60,
            # Mean loss over the first and last quarter of the run (at most 50 steps each).
            "loss_start": sum(losses[:window]) / window,
            "loss_end": sum(losses[-window:]) / window,
            "held_out_mlm_accuracy": accuracy,
            "torch_threads": torch.get_num_threads(),
        },
        out / "pretrain_report.json",
    )
    return out


@torch.no_grad()
def _held_out_accuracy(model, windows, pad_id, mask) -> float:
    model.eval()
    correct = []
    for start in range(0, len(windows), 128):
        ids, attention = _batch(windows[start : start + 128], pad_id)
        inputs, labels = mask(ids)
        correct.append(_mlm_loss(model, inputs, attention, labels)[1])
    model.train()
    return float(torch.stack(correct).mean())

