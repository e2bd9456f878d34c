"""SPLADE training on a tiny model: the ranking loss falls, FLOPS prunes terms, checkpoints resume exactly."""

from __future__ import annotations

import json

import pytest
import torch

from embedlab import EmbedlabError, SparseEncoder, load_model
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.losses.flops import FlopsWarmup, flops
from embedlab.losses.splade import SpladeLoss
from embedlab.training.build import build_loss, train
from embedlab.training.config import LossSpec, TrainConfig
from embedlab.training.trainer import Trainer
from tests.test_trainer import pair_data
from tests.tiny_sparse import save_st_sparse


@pytest.fixture(scope="module")
def sparse_dir(tmp_path_factory, tokenizer):
    return save_st_sparse(tmp_path_factory.mktemp("sparse") / "model", tokenizer)


def make_trainer(sparse_dir, tmp_path, max_steps: int = 6, loss: SpladeLoss | None = None, **settings) -> Trainer:
    config = TrainConfig(data=[], output_dir=str(tmp_path), max_steps=max_steps, batch_size=8, learning_rate=1e-3,
                         architecture="sparse", eval_data=None, seed=3, **settings)  # fmt: skip
    torch.manual_seed(config.seed)
    model = SparseEncoder.load(sparse_dir)
    batches = MixtureSampler([pair_data()], config.batch_size, seed=config.seed)
    return Trainer(config, model, loss or SpladeLoss(query_flops_weight=0, document_flops_weight=0), batches)


def test_training_lowers_the_ranking_loss(sparse_dir, tmp_path):
    losses = make_trainer(sparse_dir, tmp_path, max_steps=12).train().losses
    assert sum(losses[-3:]) < sum(losses[:3])
    assert isinstance(load_model(tmp_path / "final"), SparseEncoder)


def test_flops_regularisation_prunes_terms(sparse_dir, tmp_path):
    texts = pair_data().columns["positive"][:16]
    before = SparseEncoder.load(sparse_dir).encode_documents(texts).nnz
    loss = SpladeLoss(query_flops_weight=1.0, document_flops_weight=1.0)
    make_trainer(sparse_dir, tmp_path, max_steps=8, loss=loss).train()
    after = SparseEncoder.load(tmp_path / "final").encode_documents(texts).nnz
    assert after < before / 2


def _warm(total: int) -> SpladeLoss:
    """A SpladeLoss whose FLOPS weights grow over `total` calls (the warm-up's call count must resume too)."""
    loss = SpladeLoss(query_flops_weight=1e-2, document_flops_weight=1e-2)
    loss.set_warmup(total)
    return loss


def test_an_interrupted_run_resumes_exactly(sparse_dir, tmp_path):
    straight = make_trainer(sparse_dir, tmp_path / "straight", loss=_warm(6)).train()
    # Crash during step 5 of 6: the checkpoint written after step 4 is all the second trainer gets.
    first = make_trainer(sparse_dir, tmp_path / "resumed", checkpoint_every=4, loss=_warm(6))
    real_step, calls = first.optimizer.step, []

    def crash_on_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    first.optimizer.step = crash_on_fifth
    with pytest.raises(KeyboardInterrupt):
        first.train()
    second = make_trainer(sparse_dir, tmp_path / "resumed", checkpoint_every=4, loss=_warm(6))
    torch.manual_seed(999)  # the resumed run must take its RNG state from the checkpoint, not from here
    resumed = second.train()
    assert int(second.loss.calls) == 6
    assert resumed.losses == pytest.approx(straight.losses[4:], abs=1e-5)
    final_straight = SparseEncoder.load(tmp_path / "straight" / "final").state_dict()
    final_resumed = SparseEncoder.load(tmp_path / "resumed" / "final").state_dict()
    assert all(torch.allclose(final_straight[k], final_resumed[k], atol=1e-6) for k in final_straight)


def test_flops_warms_up_quadratically_and_counts_calls():
    warmup = FlopsWarmup(4)
    assert [warmup.factor(step) for step in range(6)] == [0.0, 1 / 16, 1 / 4, 9 / 16, 1.0, 1.0]
    assert FlopsWarmup().factor(0) == 1.0
    weights = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    assert float(flops(weights)) == pytest.approx(2.0**2 + 1.0**2)
    with pytest.raises(EmbedlabError):
        FlopsWarmup(0)


def test_train_from_config_starts_a_plain_encoder_through_from_dense(tmp_path, tokenizer):
    from tests.tiny_models import make_tiny_encoder

    dense = make_tiny_encoder(tokenizer).save(tmp_path / "dense")
    data = tmp_path / "pairs.jsonl"
    columns = pair_data().columns
    data.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n"
                            for a, p in zip(columns["anchor"], columns["positive"])))  # fmt: skip
    config = TrainConfig(data=[{"path": str(data)}], output_dir=str(tmp_path / "out"), max_steps=3, batch_size=8,
                         architecture="sparse", model=str(dense), max_seq_length=24)  # fmt: skip
    report = train(config)
    final = load_model(tmp_path / "out" / "final")
    assert report.steps == 3 and isinstance(final, SparseEncoder) and final.max_seq_length == 24
    assert "from_dense" in final.info()["mlm_head"]
    assert {"query_terms", "document_terms", "flops"} <= set(report.history[-1])


def test_build_loss_gives_the_sparse_loss_its_flops_weights(sparse_dir):
    loss = build_loss(LossSpec(flops_query_weight=0.5, flops_document_weight=0.25), SparseEncoder.load(sparse_dir))
    assert isinstance(loss, SpladeLoss)
    assert (loss.config.query_flops_weight, loss.config.document_flops_weight) == (0.5, 0.25)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"architecture": "sparse", "loss": {"name": "cosent"}}, "sparse model trains with loss infonce"),
        ({"architecture": "sparse", "pooling": "cls"}, "no pooling"),
        ({"inference_free": "query"}, "inference_free is for architecture: sparse"),
        ({"architecture": "sparse", "inference_free": "both"}, "names a side"),
    ],
)
def test_bad_sparse_configs_name_the_problem(settings, message):
    with pytest.raises(EmbedlabError, match=message):
        TrainConfig(data=[{"path": "x.jsonl"}], **settings)


def test_hard_negatives_join_the_candidates(sparse_dir):
    model = SparseEncoder.load(sparse_dir)
    loss = SpladeLoss(query_flops_weight=0, document_flops_weight=0)
    batch = {"anchor": ["cat", "dog"], "positive": ["a cat", "a dog"], "negatives": [["a car"], ["a bus"]]}
    queries, documents = loss.text_groups(batch)
    assert documents == ["a cat", "a dog", "a car", "a bus"]
    value = loss(model, batch)
    q, d = model.embed_queries(queries), model.embed_documents(documents)
    expected = torch.nn.functional.cross_entropy(q @ d.T, torch.arange(2))
    assert float(value) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(EmbedlabError, match="same number of negatives"):
        loss(model, {**batch, "negatives": [["a car"], []]})
