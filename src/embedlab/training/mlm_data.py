"""MLM pretraining's data: BERT's masking rule, token windows, length-bucketed epochs, the masked batch stream.

Every random choice comes from a seeded generator whose state is saved, so a resumed run masks as a straight one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from embedlab.models.model_files import quiet_transformers
from embedlab.models.token_batches import length_sorted_batches

IGNORE = -100  # the label cross-entropy skips: every position that was not picked for prediction
HELD_OUT_FRACTION = 0.01


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

    Fixed by (seed, epoch) alone, so a resumed run replays the order from its saved position. The shuffle
    before length bucketing decides which of equally long windows share a batch.
    """
    rng = np.random.default_rng([seed, epoch])
    shuffled = rng.permutation(len(lengths))
    batches = [shuffled[rows] for rows in length_sorted_batches(lengths[shuffled], batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_windows(windows: list[np.ndarray], pad_id: int) -> tuple[Tensor, Tensor]:
    """(input ids, attention mask) of a batch, padded to its longest window."""
    ids = torch.full((len(windows), max(len(w) for w in windows)), pad_id, dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.from_numpy(window)
    return ids, (ids != pad_id).long()


def split_held_out(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(training, held-out) texts: 1% of whole texts, so no held-out window shares a document with training."""
    order = np.random.default_rng(seed).permutation(len(texts))
    count = max(1, int(len(texts) * HELD_OUT_FRACTION))
    return [texts[i] for i in sorted(order[count:])], [texts[i] for i in sorted(order[:count])]


class MaskedWindows:
    """The Trainer's batch stream: epochs of length-bucketed windows, freshly masked at every step.

    Batches where nothing was picked (only possible for a few tiny windows) are skipped: nothing to learn.
    """

    def __init__(self, windows: list[np.ndarray], tokenizer, batch_size: int, mask_prob: float, seed: int) -> None:
        self.windows, self.tokenizer = windows, tokenizer
        self.batch_size, self.mask_prob, self.seed = batch_size, mask_prob, seed
        self.lengths = np.array([len(w) for w in windows])
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = self.position = self.tokens = 0

    def __len__(self) -> int:
        return math.ceil(len(self.windows) / self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        """The rest of the current epoch, then moves on to the next (so a resumed run picks up mid-epoch)."""
        batches = epoch_batches(self.lengths, self.batch_size, self.seed, self.epoch)
        while self.position < len(batches):
            ids, attention = pad_windows([self.windows[i] for i in batches[self.position]], self.tokenizer.pad_token_id)
            self.position += 1
            inputs, labels = mask_batch(ids, self.tokenizer, self.mask_prob, self.generator)
            if (labels != IGNORE).any():
                self.tokens += int(attention.sum())
                yield {"input_ids": inputs, "attention_mask": attention, "labels": labels}
        self.epoch, self.position = self.epoch + 1, 0

    def epochs(self) -> float:
        return self.epoch + self.position / len(self)

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch, "position": self.position, "tokens": self.tokens, "masks": self.generator.get_state()
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.tokens = int(state["epoch"]), int(state["position"]), int(state["tokens"])
        self.generator.set_state(state["masks"])
