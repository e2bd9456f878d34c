"""GradCache: the cached loss gives the plain InfoNCE loss's value and gradients, dropout included."""

from __future__ import annotations

import pytest
import torch

from embedlab.losses import (
    CachedInfoNCELoss,
    InfoNCEConfig,
    InfoNCELoss,
    MatryoshkaLoss,
    infonce_from_embeddings,
)
from embedlab.losses.embedding import embed_texts

ANCHORS = [
    "red apple",
    "a fast car",
    "the blue ocean",
    "quiet library reading",
    "mountain hike",
    "hot coffee",
    "old piano",
]
BATCH = {
    "anchor": ANCHORS,
    "positive": [
        "a ripe fruit",
        "speedy vehicle on a road",
        "sea water",
        "books and silence",
        "climbing a peak",
        "espresso",
        "a keyboard instrument",
    ],
    # Two hard negatives each: 14 negative texts, so mini-batches of 3 split every column unevenly.
    "negatives": [[f"{anchor} is not {word}" for word in ("this", "that at all")] for anchor in ANCHORS],
}


def loss_and_gradients(model, compute) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    value = compute()
    value.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return value.item(), gradients


def assert_same(first, second, atol=1e-5):
    (value_a, grads_a), (value_b, grads_b) = first, second
    assert value_a == pytest.approx(value_b, abs=atol)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        # Relative too: a gradient summed over every token (token_type_embeddings) reaches tens, and the cached
        # loss adds its chunks' contributions in another order.
        assert torch.allclose(grads_a[name], grads_b[name], rtol=1e-4, atol=atol), name


def test_eval_mode_matches_plain_infonce_with_uneven_mini_batches(tiny_encoder):
    tiny_encoder.eval()
    plain = loss_and_gradients(tiny_encoder, lambda: InfoNCELoss()(tiny_encoder, BATCH))
    for size in (1, 3, 5):
        loss = CachedInfoNCELoss(mini_batch_size=size)
        assert_same(loss_and_gradients(tiny_encoder, lambda loss=loss: loss(tiny_encoder, BATCH)), plain)


def test_train_mode_replays_dropout_exactly(tiny_encoder):
    """Mini-batches that hold whole columns see exactly the plain loss's dropout masks."""
    tiny_encoder.train()
    try:
        torch.manual_seed(7)
        plain = loss_and_gradients(tiny_encoder, lambda: InfoNCELoss()(tiny_encoder, BATCH))
        after_plain = torch.rand(3)
        torch.manual_seed(7)
        cached = loss_and_gradients(tiny_encoder, lambda: CachedInfoNCELoss(mini_batch_size=16)(tiny_encoder, BATCH))
        after_cached = torch.rand(3)
        torch.manual_seed(8)
        other_masks = loss_and_gradients(tiny_encoder, lambda: InfoNCELoss()(tiny_encoder, BATCH))
    finally:
        tiny_encoder.eval()
    assert_same(cached, plain)
    # The replay leaves no trace in later random numbers, and dropout really is at work here.
    assert torch.equal(after_plain, after_cached)
    assert abs(other_masks[0] - plain[0]) > 1e-4


def test_train_mode_with_uneven_mini_batches_matches_the_same_computation_with_gradients(tiny_encoder):
    """With several mini-batches per column, the reference embeds the same mini-batches with gradients."""
    size = 3

    def reference():
        groups = InfoNCELoss().text_groups(BATCH)
        anchors, positives, negatives = (
            torch.cat([embed_texts(tiny_encoder, texts[i : i + size]) for i in range(0, len(texts), size)])
            for texts in groups
        )
        return infonce_from_embeddings(
            anchors, positives, negatives.view(len(anchors), 2, -1), config=InfoNCEConfig(symmetric=True)
        )

    tiny_encoder.train()
    try:
        torch.manual_seed(11)
        expected = loss_and_gradients(tiny_encoder, reference)
        torch.manual_seed(11)
        cached = loss_and_gradients(
            tiny_encoder, lambda: CachedInfoNCELoss(mini_batch_size=size, symmetric=True)(tiny_encoder, BATCH)
        )
    finally:
        tiny_encoder.eval()
    assert_same(cached, expected)


def test_options_and_learnable_temperature_get_the_same_gradients(tiny_encoder):
    options = {"symmetric": True, "false_negative_margin": 0.05, "learnable_temperature": True, "temperature": 0.1}
    plain_loss, cached_loss = InfoNCELoss(**options), CachedInfoNCELoss(mini_batch_size=4, **options)
    plain = loss_and_gradients(tiny_encoder, lambda: plain_loss(tiny_encoder, BATCH))
    cached = loss_and_gradients(tiny_encoder, lambda: cached_loss(tiny_encoder, BATCH))
    assert_same(cached, plain)
    assert plain_loss.log_scale.grad is not None
    assert torch.allclose(cached_loss.log_scale.grad, plain_loss.log_scale.grad, atol=1e-5)


def test_gradients_follow_the_scaling_of_the_loss(tiny_encoder):
    loss = CachedInfoNCELoss(mini_batch_size=4, learnable_temperature=True)
    _, full = loss_and_gradients(tiny_encoder, lambda: loss(tiny_encoder, BATCH))
    full_temperature = loss.log_scale.grad.clone()
    loss.log_scale.grad = None
    _, quarter = loss_and_gradients(tiny_encoder, lambda: loss(tiny_encoder, BATCH) * 0.25)
    for name in full:
        assert torch.allclose(quarter[name], full[name] * 0.25, atol=1e-6), name
    assert torch.allclose(loss.log_scale.grad, full_temperature * 0.25)


def test_no_grad_gives_the_value_only(tiny_encoder):
    with torch.no_grad():
        cached = CachedInfoNCELoss(mini_batch_size=3)(tiny_encoder, BATCH)
        plain = InfoNCELoss()(tiny_encoder, BATCH)
    assert not cached.requires_grad
    assert cached.item() == pytest.approx(plain.item(), abs=1e-5)


def test_matryoshka_over_the_cached_loss_matches_matryoshka_over_plain_infonce(tiny_encoder):
    dims = (32, 16, 8)
    plain = loss_and_gradients(tiny_encoder, lambda: MatryoshkaLoss(InfoNCELoss(), dims)(tiny_encoder, BATCH))
    cached = loss_and_gradients(
        tiny_encoder, lambda: MatryoshkaLoss(CachedInfoNCELoss(mini_batch_size=3), dims)(tiny_encoder, BATCH)
    )
    assert_same(cached, plain)


def test_backward_recomputes_exactly_the_first_embeddings_under_dropout_and_autocast(tiny_encoder):
    """The second forward pass runs inside backward(), outside the caller's autocast block and RNG stream."""
    outputs: list[torch.Tensor] = []
    handle = tiny_encoder.register_forward_hook(lambda module, args, output: outputs.append(output.detach().clone()))
    tiny_encoder.train()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value = CachedInfoNCELoss(mini_batch_size=3)(tiny_encoder, BATCH)
        first_pass = len(outputs)
        value.backward()
    finally:
        handle.remove()
        tiny_encoder.eval()
        tiny_encoder.zero_grad()
    assert first_pass == 3 + 3 + 5  # 7 anchors, 7 positives, 14 negatives in mini-batches of 3
    replayed, original = outputs[first_pass:], outputs[:first_pass]
    assert len(replayed) == first_pass
    assert all(torch.equal(a, b) for a, b in zip(replayed, original))
