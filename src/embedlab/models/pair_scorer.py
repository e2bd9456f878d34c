"""PairScorer: what every cross-encoder shares, whatever its directory format: scoring, predicting, reranking.

A cross-encoder reads query and document together, so every pair is a forward pass: slower than a bi-encoder,
more accurate, and so it re-ranks a short list. Subclasses say how a batch of pairs is tokenized and scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError, check_positive_integer
from embedlab.models.token_batches import length_sorted_batches


class RerankHit(NamedTuple):
    """One re-ranked document: its position in the input list, its score and its text."""

    corpus_id: int
    score: float
    text: str


class PairScorer(nn.Module):
    """A model giving logits for (first, second) text pairs: one per pair, or one per class (num_labels > 1)."""

    name: str
    num_labels: int = 1
    tokenizer: object  # the Hugging Face (fast) tokenizer that joins a pair into one input

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def max_seq_length(self) -> int:
        raise NotImplementedError

    @property
    def lower_case(self) -> bool:
        """Whether texts are lower-cased before tokenizing (sentence-transformers' do_lower_case)."""
        return False

    def tokenize_pairs(self, firsts: Sequence[str], seconds: Sequence[str]) -> dict[str, Tensor]:
        """Padded inputs for aligned pairs on the model's device, as sentence-transformers makes them:
        longest-first truncation shortens the longer text of a pair first."""
        if self.lower_case:
            firsts, seconds = [t.lower() for t in firsts], [t.lower() for t in seconds]
        features = self.tokenizer(
            list(firsts),
            list(seconds),
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in features.items()}

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """Logits (B,) for one label, (B, num_labels) otherwise; differentiable."""
        raise NotImplementedError

    def activate(self, logits: Tensor) -> Tensor:
        """The model's activation on its logits (sigmoid for most rerankers): what predict returns by default."""
        raise NotImplementedError

    def score(self, firsts: Sequence[str], seconds: Sequence[str]) -> Tensor:
        """Logits of aligned pairs, with gradients in training."""
        return self(self.tokenize_pairs(firsts, seconds))

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, activation: bool = True) -> np.ndarray:
        """Scores of (first, second) pairs, float32 (n,) or (n, num_labels): the activation's output, as in
        sentence-transformers' CrossEncoder.predict, or the raw logits with activation=False."""
        check_positive_integer("batch_size", batch_size)
        pairs = [(str(a), str(b)) for a, b in pairs]
        shape = (len(pairs),) if self.num_labels == 1 else (len(pairs), self.num_labels)
        scores = torch.zeros(shape)
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            # Similar lengths per batch waste less padding, as in Encoder.encode.
            for batch in length_sorted_batches([len(a) + len(b) for a, b in pairs], batch_size):
                logits = self.score([pairs[i][0] for i in batch], [pairs[i][1] for i in batch]).float()
                scores[batch] = (self.activate(logits) if activation else logits).cpu()
        self.train(was_training)
        return scores.numpy()

    def check_one_score(self, what: str = "reranking") -> PairScorer:
        """Self when the model gives one score per pair; a one-line error for a classifier with several labels."""
        if self.num_labels != 1:
            raise EmbedlabError(
                f"{self.name} gives {self.num_labels} scores per pair (num_labels={self.num_labels}); "
                f"{what} needs a cross-encoder with one score per pair (num_labels=1)"
            )
        return self

    def rerank(
        self, query: str, documents: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[RerankHit]:
        """The documents ordered by score for the query, best first (ties: earlier document first), top_k of them."""
        check_positive_integer("top_k", top_k, optional=True)
        scores = self.check_one_score().predict([(query, d) for d in documents], batch_size=batch_size)
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))[:top_k]
        return [RerankHit(i, float(scores[i]), documents[i]) for i in order]
