"""Training losses: values worked out by hand on 2-D vectors, sentence-transformers as an oracle, and errors."""

from __future__ import annotations

import math

import pytest
import torch

from embedlab import Encoder
from embedlab.errors import EmbedlabError
from embedlab.losses import (
    CachedInfoNCELoss,
    CoSENTLoss,
    InfoNCEConfig,
    InfoNCELoss,
    MatryoshkaLoss,
    SoftmaxClassifierLoss,
    TripletLoss,
    infonce_from_embeddings,
)

PAIRS = {
    "anchor": ["how do I bake bread", "capital of france", "fastest land animal", "boiling point of water"],
    "positive": ["a simple bread recipe", "paris is the capital", "the cheetah runs fastest", "water boils at 100 c"],
}
SCORED = {
    "sentence1": ["a man plays guitar", "a dog runs", "kids play football", "the sky is blue"],
    "sentence2": ["someone plays an instrument", "a cat sleeps", "children playing soccer", "grass is green"],
    "score": [4.2, 0.5, 4.8, 1.0],
}


def at(*angles: float, length: float = 1.0) -> torch.Tensor:
    """2-D vectors at the given angles (radians): cosine similarity is the cosine of the angle between them."""
    return torch.tensor([[length * math.cos(a), length * math.sin(a)] for a in angles])


def nll(target: float, others: list[float], scale: float) -> float:
    """-log softmax of the target similarity among itself and the others, at the given scale."""
    return -scale * target + math.log(math.exp(scale * target) + sum(math.exp(scale * o) for o in others))


# ---- InfoNCE on embeddings -------------------------------------------------------------------------


def c(x: float, y: float) -> float:
    """Cosine similarity of the unit vectors at angles x and y."""
    return math.cos(x - y)


# Two anchors and their positives close enough that the losses are far from zero at temperature 0.05.
A0, A1, P0, P1 = 0.0, 0.4, 0.1, 0.35


def test_infonce_matches_hand_computed_log_softmax():
    anchors, positives = at(A0, A1, length=3.0), at(P0, P1)  # lengths must not matter
    loss = infonce_from_embeddings(anchors, positives)
    s = 20.0
    expected = (nll(c(A0, P0), [c(A0, P1)], s) + nll(c(A1, P1), [c(A1, P0)], s)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_temperature_scales_similarities():
    anchors, positives = at(A0, A1), at(P0, P1)
    for temperature in (0.02, 0.5, 2.0):
        loss = infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(temperature=temperature))
        s = 1 / temperature
        expected = (nll(c(A0, P0), [c(A0, P1)], s) + nll(c(A1, P1), [c(A1, P0)], s)) / 2
        assert loss.item() == pytest.approx(expected, rel=1e-5)
    # With the positives ranked first, a sharper softmax gives a smaller loss.
    sharp, flat = (
        infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(temperature=t)) for t in (0.05, 1.0)
    )
    assert sharp < flat


def test_hard_negatives_join_every_anchors_denominator():
    anchors, positives = at(A0, A1), at(P0, P1)
    negatives = at(0.2, 0.6).unsqueeze(1)  # one hard negative per anchor: (2, 1, 2)
    loss = infonce_from_embeddings(anchors, positives, negatives)
    s = 20.0
    a0 = nll(c(A0, P0), [c(A0, P1), c(A0, 0.2), c(A0, 0.6)], s)
    a1 = nll(c(A1, P1), [c(A1, P0), c(A1, 0.2), c(A1, 0.6)], s)
    assert loss.item() == pytest.approx((a0 + a1) / 2, rel=1e-5)
    assert loss > infonce_from_embeddings(anchors, positives)


def test_symmetric_averages_the_positive_to_anchor_term():
    anchors, positives = at(A0, A1), at(P0, P1)
    loss = infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(symmetric=True))
    s = 20.0
    forward = (nll(c(A0, P0), [c(A0, P1)], s) + nll(c(A1, P1), [c(A1, P0)], s)) / 2
    backward = (nll(c(P0, A0), [c(P0, A1)], s) + nll(c(P1, A1), [c(P1, A0)], s)) / 2
    assert loss.item() == pytest.approx((forward + backward) / 2, rel=1e-5)


def test_false_negative_guard_masks_exactly_the_too_similar_candidates():
    anchors, positives = at(0.0, 1.0, 2.0), at(0.3, 1.05, 2.6)
    s = 5.0
    # Margin 0.3: anchor 1's threshold is cos(0.05) - 0.3 = 0.70, so positive 0 (cos 0.7 = 0.76) goes;
    # anchor 2's is cos(0.6) - 0.3 = 0.53, so positive 1 (cos 0.95 = 0.58) goes; anchor 0 keeps both.
    loss = infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(temperature=0.2, false_negative_margin=0.3))
    expected = (
        nll(math.cos(0.3), [math.cos(1.05), math.cos(2.6)], s)
        + nll(math.cos(0.05), [math.cos(1.6)], s)
        + nll(math.cos(0.6), [math.cos(1.7)], s)
    ) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # A small margin masks nothing here; a huge one masks everything but the positives.
    unguarded = infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(temperature=0.2))
    small = infonce_from_embeddings(
        anchors, positives, config=InfoNCEConfig(temperature=0.2, false_negative_margin=0.1)
    )
    assert small.item() == pytest.approx(unguarded.item(), rel=1e-6)
    everything = infonce_from_embeddings(anchors, positives, config=InfoNCEConfig(false_negative_margin=10.0))
    assert everything.item() == 0.0


def test_false_negative_guard_covers_hard_negatives_and_the_symmetric_term():
    anchors, positives = at(0.0, math.pi / 2), at(0.3, 1.2)
    negatives = at(0.1, 2.0).unsqueeze(1)  # anchor 0's "negative" is closer to it than its positive
    config = InfoNCEConfig(temperature=0.2, false_negative_margin=0.0, symmetric=True)
    loss = infonce_from_embeddings(anchors, positives, negatives, config=config)
    s = 5.0
    # Anchor 0 loses the negative at 0.1; anchor 1 (sim to its positive sin 1.2 = 0.93) keeps the
    # others: sin 0.3, sin 0.1 and sin 2.0 = 0.91 are all below it.
    forward = (
        nll(math.cos(0.3), [math.cos(1.2), math.cos(2.0)], s)
        + nll(math.sin(1.2), [math.sin(0.3), math.sin(0.1), math.sin(2.0)], s)
    ) / 2
    # Backward: positive 0 keeps anchor 1 (cos 1.27 < cos 0.3); positive 1 keeps anchor 0 (cos 1.2 < cos 0.37).
    backward = (
        nll(math.cos(0.3), [math.cos(math.pi / 2 - 0.3)], s) + nll(math.cos(math.pi / 2 - 1.2), [math.cos(1.2)], s)
    ) / 2
    assert loss.item() == pytest.approx((forward + backward) / 2, rel=1e-5)


def test_infonce_matches_sentence_transformers_on_the_same_embeddings():
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    torch.manual_seed(1)
    anchors, positives, negatives = torch.randn(6, 8), torch.randn(6, 8), torch.randn(6, 3, 8)
    columns = [anchors, positives, *negatives.unbind(1)]
    oracle = st_losses.MultipleNegativesRankingLoss(None, scale=20.0).compute_loss_from_embeddings(columns, None)
    assert infonce_from_embeddings(anchors, positives, negatives).item() == pytest.approx(oracle.item(), rel=1e-5)
    symmetric_oracle = st_losses.MultipleNegativesRankingLoss(
        None, scale=20.0, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    ).compute_loss_from_embeddings(columns, None)
    symmetric = infonce_from_embeddings(anchors, positives, negatives, config=InfoNCEConfig(symmetric=True))
    assert symmetric.item() == pytest.approx(symmetric_oracle.item(), rel=1e-5)


def test_gather_across_processes_is_a_no_op_without_a_process_group():
    anchors, positives, negatives = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 2, 8)
    config = InfoNCEConfig(gather_across_processes=True, symmetric=True)
    gathered = infonce_from_embeddings(anchors, positives, negatives, config=config)
    plain = infonce_from_embeddings(anchors, positives, negatives, config=InfoNCEConfig(symmetric=True))
    assert gathered.item() == pytest.approx(plain.item())


def test_learnable_temperature_gets_a_gradient_and_stays_in_bounds():
    loss = InfoNCELoss(learnable_temperature=True, temperature=0.1)
    assert [name for name, _ in loss.named_parameters()] == ["log_scale"]
    assert loss.temperature == pytest.approx(0.1)
    embeddings = [at(A0, A1), at(P0, P1)]
    value = loss.loss_from_embeddings(embeddings, PAIRS)
    value.backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad.item() != 0.0
    # An optimizer step beyond the bounds is undone at the next use, and the gradient still flows.
    with torch.no_grad():
        loss.log_scale.fill_(10.0)
    loss.log_scale.grad = None
    loss.loss_from_embeddings(embeddings, PAIRS).backward()
    assert loss.temperature == pytest.approx(0.01)
    assert loss.log_scale.grad.item() != 0.0


# ---- InfoNCE through a model, and Matryoshka -------------------------------------------------------


def test_infonce_loss_trains_the_encoder(tiny_encoder):
    tiny_encoder.zero_grad()
    batch = {**PAIRS, "negatives": [["x", "y"], ["z", "w"], ["u", "v"], ["s", "t"]]}
    value = InfoNCELoss()(tiny_encoder, batch)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    grads = [p.grad for p in tiny_encoder.transformer.embeddings.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    tiny_encoder.zero_grad()


def _count_forward_calls(model: Encoder):
    calls: list[int] = []
    handle = model.register_forward_hook(lambda module, args, output: calls.append(len(output)))
    return calls, handle


def test_matryoshka_is_the_weighted_sum_of_truncated_losses_from_one_model_run(tiny_encoder):
    for inner, batch in ((InfoNCELoss(), PAIRS), (CoSENTLoss(), SCORED)):
        matryoshka = MatryoshkaLoss(inner, dims=(32, 16, 8), weights=(1.0, 0.5, 0.25))
        calls, handle = _count_forward_calls(tiny_encoder)
        try:
            with torch.no_grad():
                value = matryoshka(tiny_encoder, batch)
        finally:
            handle.remove()
        assert len(calls) == 2  # one run per text column, not per size
        with torch.no_grad():
            full = [tiny_encoder(tiny_encoder.tokenize(texts)) for texts in inner.text_groups(batch)]
        expected = sum(
            w * inner.loss_from_embeddings([e[:, :d] for e in full], batch)
            for d, w in ((32, 1.0), (16, 0.5), (8, 0.25))
        )
        assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_matryoshka_skips_sizes_above_the_model_dimension(tiny_encoder):
    with torch.no_grad():
        default = MatryoshkaLoss(InfoNCELoss())(tiny_encoder, PAIRS)  # of 384..32 only 32 fits
        plain = InfoNCELoss()(tiny_encoder, PAIRS)
    assert default.item() == pytest.approx(plain.item(), rel=1e-6)
    with pytest.raises(EmbedlabError, match="none of the Matryoshka dims"):
        MatryoshkaLoss(InfoNCELoss(), dims=(64, 128))(tiny_encoder, PAIRS)


def test_matryoshka_rejects_bad_settings():
    with pytest.raises(EmbedlabError, match="full-size"):
        MatryoshkaLoss(SoftmaxClassifierLoss(dim=32))
    with pytest.raises(EmbedlabError, match="weights"):
        MatryoshkaLoss(InfoNCELoss(), dims=(32, 16), weights=(1.0,))
    with pytest.raises(EmbedlabError, match="distinct positive"):
        MatryoshkaLoss(InfoNCELoss(), dims=(32, 32))


# ---- CoSENT, triplet, softmax ----------------------------------------------------------------------


def test_cosent_hand_value():
    left, right = at(0.0, 0.0, 0.0), at(0.4, 0.9, 0.2)  # cosines cos 0.4, cos 0.9, cos 0.2
    batch = {"sentence1": ["a"] * 3, "sentence2": ["b"] * 3, "score": [3.0, 1.0, 1.0]}
    value = CoSENTLoss(scale=20.0).loss_from_embeddings([left, right], batch)
    # Pair 0 should outrank pairs 1 and 2; 1 and 2 tie, so neither is asked to outrank the other.
    expected = math.log(
        1 + math.exp(20 * (math.cos(0.9) - math.cos(0.4))) + math.exp(20 * (math.cos(0.2) - math.cos(0.4)))
    )
    assert value.item() == pytest.approx(expected, rel=1e-5)
    equal_scores = {**batch, "score": [2.0, 2.0, 2.0]}
    assert CoSENTLoss().loss_from_embeddings([left, right], equal_scores).item() == pytest.approx(0.0, abs=1e-7)


def test_cosent_matches_sentence_transformers():
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    torch.manual_seed(2)
    left, right = torch.randn(9, 16), torch.randn(9, 16)
    scores = [0.1, 0.5, 0.5, 0.9, 0.0, 0.3, 0.9, 0.7, 0.2]
    batch = {"sentence1": ["a"] * 9, "sentence2": ["b"] * 9, "score": scores}
    oracle = st_losses.CoSENTLoss(None, scale=20.0).compute_loss_from_embeddings([left, right], torch.tensor(scores))
    assert CoSENTLoss().loss_from_embeddings([left, right], batch).item() == pytest.approx(oracle.item(), rel=1e-5)


def test_triplet_hand_values():
    batch = {"anchor": ["a"], "positive": ["p"], "negatives": [["n1", "n2"]]}
    anchors, positives = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    negatives = torch.tensor([[6.0, 8.0], [0.0, 1.0]])  # distances 10 and 1 against the positive's 5
    value = TripletLoss().loss_from_embeddings([anchors, positives, negatives], batch)
    assert value.item() == pytest.approx((0.0 + (5 - 1 + 5)) / 2)
    cosine = TripletLoss(distance="cosine", margin=0.5)
    value = cosine.loss_from_embeddings([at(0.0), at(0.5), at(0.2, 1.5)], batch)
    expected = ((1 - math.cos(0.5)) - (1 - math.cos(0.2)) + 0.5 + 0.0) / 2  # the 1.5 negative is far enough
    assert (1 - math.cos(0.5)) - (1 - math.cos(1.5)) + 0.5 < 0
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_triplet_matches_sentence_transformers_for_one_negative():
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    torch.manual_seed(3)
    anchors, positives, negatives = torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 8)
    batch = {"anchor": ["a"] * 5, "positive": ["p"] * 5, "negatives": [["n"]] * 5}
    oracle = st_losses.TripletLoss(None).compute_loss_from_embeddings([anchors, positives, negatives], None)
    assert TripletLoss().loss_from_embeddings([anchors, positives, negatives], batch).item() == pytest.approx(
        oracle.item(), rel=1e-4
    )


def test_softmax_classifier_loss(tiny_encoder):
    nli = {"sentence1": SCORED["sentence1"], "sentence2": SCORED["sentence2"], "label": [0, 2, 0, 1]}
    loss = SoftmaxClassifierLoss(dim=tiny_encoder.dim, num_labels=3)
    assert loss.classifier.weight.shape == (3, 3 * tiny_encoder.dim)
    tiny_encoder.zero_grad()
    value = loss(tiny_encoder, nli)
    value.backward()
    assert value.ndim == 0 and loss.classifier.weight.grad is not None
    assert tiny_encoder.transformer.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert not any(key.startswith("classifier") for key in tiny_encoder.state_dict())
    tiny_encoder.zero_grad()
    # An untrained, all-zero classifier is uniform over the three labels.
    with torch.no_grad():
        loss.classifier.weight.zero_()
        loss.classifier.bias.zero_()
    assert loss.loss_from_embeddings([torch.randn(4, 32), torch.randn(4, 32)], nli).item() == pytest.approx(math.log(3))
    with pytest.raises(EmbedlabError, match="labels must lie in 0..2"):
        loss.loss_from_embeddings([torch.randn(4, 32), torch.randn(4, 32)], {**nli, "label": [0, 1, 3, 0]})


# ---- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "batch", "message"),
    [
        (InfoNCELoss(), {"anchor": ["a"]}, "InfoNCELoss needs batch column\\(s\\) positive; the batch has anchor"),
        (InfoNCELoss(), {"anchor": ["a", "b"], "positive": ["c"]}, "differ in length \\(anchor=2, positive=1\\)"),
        (InfoNCELoss(), {"anchor": [], "positive": []}, "empty"),
        (
            InfoNCELoss(),
            {"anchor": ["a", "b"], "positive": ["c", "d"], "negatives": [["x"], ["y", "z"]]},
            "same number of negatives",
        ),
        (CachedInfoNCELoss(), {"sentence1": ["a"], "sentence2": ["b"]}, "anchor, positive"),
        (CoSENTLoss(), {"sentence1": ["a"], "sentence2": ["b"]}, "CoSENTLoss needs batch column\\(s\\) score"),
        (TripletLoss(), PAIRS, "TripletLoss needs batch column\\(s\\) negatives"),
        (TripletLoss(), {"anchor": ["a"], "positive": ["p"], "negatives": [[]]}, "at least one negative"),
        (SoftmaxClassifierLoss(dim=32), SCORED, "needs batch column\\(s\\) label"),
    ],
)
def test_clear_errors_for_unusable_batches(loss, batch, message):
    with pytest.raises(EmbedlabError, match=message):
        loss.text_groups(batch)


def test_clear_errors_for_bad_options():
    with pytest.raises(EmbedlabError, match="unknown InfoNCEConfig option\\(s\\) temprature"):
        InfoNCELoss(temprature=0.1)
    with pytest.raises(EmbedlabError, match="positive"):
        InfoNCELoss(temperature=0.0)
    with pytest.raises(EmbedlabError, match="learnable temperature"):
        InfoNCELoss(temperature=5.0, learnable_temperature=True)
    with pytest.raises(EmbedlabError, match="mini_batch_size"):
        CachedInfoNCELoss(mini_batch_size=0)
    with pytest.raises(EmbedlabError, match="distance"):
        TripletLoss(distance="manhattan")
    with pytest.raises(EmbedlabError, match="must hold numbers"):
        CoSENTLoss().loss_from_embeddings([torch.randn(2, 4), torch.randn(2, 4)], {"score": ["high", "low"]})


def test_infonce_on_minilm_matches_sentence_transformers(minilm, st_minilm):
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    batch = {
        **PAIRS,
        "negatives": [["rye flour prices"], ["lyon is a city"], ["snails are slow"], ["ice melts at 0 c"]],
    }
    columns = [batch["anchor"], batch["positive"], [n for group in batch["negatives"] for n in group]]
    st_minilm.eval()
    with torch.no_grad():
        oracle = st_losses.MultipleNegativesRankingLoss(st_minilm)([st_minilm.tokenize(c) for c in columns], None)
        value = InfoNCELoss()(minilm, batch)
    assert value.item() == pytest.approx(oracle.item(), abs=1e-4)
