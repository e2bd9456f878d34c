"""InfoNCE with GradCache (Gao et al. 2021): in-batch negatives from batches far larger than memory allows.

In-batch negatives tie every example to every other, so a batch cannot simply be split for gradient
accumulation. GradCache splits the work instead:

1. embed every text in mini-batches without gradients, remembering each mini-batch's random state;
2. compute the loss on those embeddings and its gradient with respect to each embedding (cheap: (n, dim));
3. re-embed each mini-batch with gradients, replaying its random state so dropout draws the same masks,
   and back-propagate the cached embedding gradients through the encoder, one mini-batch at a time.

Only one mini-batch's activations are alive at a time, at the price of a second forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, EmbeddingLoss
from embedlab.losses.infonce import InfoNCEConfig, InfoNCELoss
from embedlab.models.encoder import Encoder


@dataclass(frozen=True)
class CachedInfoNCEConfig(InfoNCEConfig):
    """InfoNCE's options plus mini_batch_size: how many texts the encoder sees at once (memory, not maths)."""

    mini_batch_size: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mini_batch_size < 1:
            raise EmbedlabError(f"mini_batch_size must be at least 1, not {self.mini_batch_size}")


class CachedInfoNCELoss(InfoNCELoss):
    """InfoNCELoss computed with GradCache: the same value and gradients, in bounded memory.

    Inputs and options: those of InfoNCELoss, plus `mini_batch_size`.

    When to use: InfoNCE with a batch too large to embed with gradients at once (thousands of pairs),
    since more in-batch negatives train better retrieval models. It costs roughly one extra forward pass,
    so with batches that fit, plain InfoNCELoss is faster.

    How to call it: exactly like any other loss. `value = loss(model, batch)` embeds the batch and works out
    the embedding gradients; `value.backward()` then re-runs the encoder mini-batch by mini-batch and
    accumulates the parameter gradients, scaled by whatever multiplies the loss (gradient accumulation,
    a loss scaler). Call `backward()` once per forward, before the next optimizer step, with the model in
    the same train/eval mode. Under `torch.no_grad()` only step 1 runs and the value comes back.
    """

    config_type = CachedInfoNCEConfig
    config: CachedInfoNCEConfig

    def embed_then_score(self, model: Encoder, batch: Batch, scorer: EmbeddingLoss) -> Tensor:
        size = self.config.mini_batch_size
        groups = [
            [_MiniBatch.embed(model, texts[i : i + size]) for i in range(0, len(texts), size)]
            for texts in self.text_groups(batch)
        ]
        embeddings = [torch.cat([part.embeddings for part in group]) for group in groups]
        if not torch.is_grad_enabled():
            return scorer.loss_from_embeddings(embeddings, batch)
        embeddings = [group.requires_grad_() for group in embeddings]
        # Only the loss's own parameters (a learnable temperature) are reached here; their gradients are
        # kept and handed over in the backward pass below, so they too get scaled by the outer gradient.
        loss_parameters = [p for p in scorer.parameters() if p.requires_grad]
        loss = scorer.loss_from_embeddings(embeddings, batch)
        gradients = torch.autograd.grad(loss, [*embeddings, *loss_parameters], materialize_grads=True)
        part_gradients = [
            part_gradient
            for group, gradient in zip(groups, gradients)
            for part_gradient in gradient.split([len(part.embeddings) for part in group])
        ]
        replay = _Replay(model, [part for group in groups for part in group], part_gradients)
        parameter_gradients = gradients[len(embeddings) :]
        return _ReplayOnBackward.apply(loss.detach().requires_grad_(), replay, parameter_gradients, *loss_parameters)


class _RandomState:
    """The CPU (and CUDA) random state before a forward pass, to draw the same dropout masks again."""

    def __init__(self, device: torch.device) -> None:
        self.devices = [device] if device.type == "cuda" else []
        self.cpu = torch.get_rng_state()
        self.cuda = [torch.cuda.get_rng_state(d) for d in self.devices]

    @contextmanager
    def replayed(self) -> Iterator[None]:
        # fork_rng puts the outer state back afterwards, so the replay leaves no trace in later randomness.
        with torch.random.fork_rng(devices=self.devices):
            torch.set_rng_state(self.cpu)
            for device, state in zip(self.devices, self.cuda):
                torch.cuda.set_rng_state(state, device)
            yield


@dataclass
class _MiniBatch:
    """One mini-batch of step 1: its model inputs, the random state its forward pass saw, its embeddings."""

    features: dict[str, Tensor]
    random_state: _RandomState
    embeddings: Tensor

    @classmethod
    def embed(cls, model: Encoder, texts: list[str]) -> _MiniBatch:
        features = model.tokenize(texts)
        random_state = _RandomState(model.device)
        with torch.no_grad():
            embeddings = model(features)
        return cls(features, random_state, embeddings)


class _Replay:
    """GradCache step 3, run from inside the outer backward pass."""

    def __init__(self, model: Encoder, mini_batches: list[_MiniBatch], gradients: list[Tensor]) -> None:
        self.model = model
        self.mini_batches = mini_batches
        self.gradients = gradients
        # The backward pass runs outside the caller's autocast block, yet must recompute the same numbers.
        device_type = model.device.type
        self.autocast: dict[str, Any] = {
            "device_type": device_type,
            "enabled": torch.is_autocast_enabled(device_type),
            "dtype": torch.get_autocast_dtype(device_type),
        }

    def __call__(self, grad_output: Tensor) -> None:
        with torch.enable_grad(), torch.autocast(**self.autocast):
            for part, gradient in zip(self.mini_batches, self.gradients):
                with part.random_state.replayed():
                    embeddings = self.model(part.features)
                torch.autograd.backward(embeddings, (gradient * grad_output).to(embeddings.dtype))


class _ReplayOnBackward(torch.autograd.Function):
    """Passes the loss value through; its backward runs GradCache step 3 and hands the loss's own
    parameters their cached gradients, both times the incoming gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        value: Tensor,
        replay: Callable[[Tensor], None],
        parameter_gradients: tuple[Tensor, ...],
        *parameters: Tensor,
    ) -> Tensor:
        ctx.replay = replay
        ctx.parameter_gradients = parameter_gradients
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        ctx.replay(grad_output)
        return (None, None, None, *(gradient * grad_output for gradient in ctx.parameter_gradients))
