"""Late-interaction training and batched MaxSim: InfoNCE over MaxSim learns, resumes exactly, and scores match."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from embedlab import EmbedlabError, MultiVectorEncoder
from embedlab.losses.late_interaction import LateInteractionLoss
from embedlab.maxsim import maxsim_scores, maxsim_top_k, pad_rows
from embedlab.similarity import maxsim
from embedlab.training.build import train
from embedlab.training.config import TrainConfig
from tests.test_trainer import pair_data
from tests.tiny_colbert import save_st_colbert


@pytest.fixture(scope="module")
def colbert_dir(tmp_path_factory, tokenizer):
    return save_st_colbert(tmp_path_factory.mktemp("colbert") / "model", tokenizer)


@pytest.fixture
def pairs_file(tmp_path):
    data = pair_data()
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"anchor": a, "positive": p, "negative": p[::-1]}) + "\n"
                            for a, p in zip(data.columns["anchor"], data.columns["positive"])))
    return path


def config(colbert_dir, pairs_file, out, **settings) -> TrainConfig:
    values = {"architecture": "multi_vector", "model": str(colbert_dir), "data": [{"path": str(pairs_file)}],
              "output_dir": str(out), "max_steps": 6, "batch_size": 8, "learning_rate": 1e-3, "eval_data": None,
              "seed": 3, "checkpoint_every": 100}
    return TrainConfig(**{**values, **settings})


def test_training_lowers_the_loss_and_saves_a_colbert_model(colbert_dir, pairs_file, tmp_path):
    report = train(config(colbert_dir, pairs_file, tmp_path / "out", max_steps=12))
    assert report.steps == 12 and np.mean(report.losses[-3:]) < np.mean(report.losses[:3])
    model = MultiVectorEncoder.load(tmp_path / "out" / "final", device="cpu")
    assert model.encode_queries(["a cat"])[0].shape[1] == 16


def test_interrupted_run_resumes_exactly(colbert_dir, pairs_file, tmp_path):
    straight = train(config(colbert_dir, pairs_file, tmp_path / "straight"))
    from embedlab.training.build import build_trainer

    first = build_trainer(config(colbert_dir, pairs_file, tmp_path / "resumed", checkpoint_every=4))
    real_step, calls = first.optimizer.step, []

    def crash_on_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    first.optimizer.step = crash_on_fifth
    with pytest.raises(KeyboardInterrupt):
        first.train()
    torch.manual_seed(999)  # the resumed run must take its RNG state from the checkpoint
    resumed = train(config(colbert_dir, pairs_file, tmp_path / "resumed", checkpoint_every=4))
    assert resumed.resumed_from == 4 and resumed.losses == pytest.approx(straight.losses[4:], abs=1e-5)


def test_loss_uses_hard_negatives_and_checks_columns(colbert_dir):
    model = MultiVectorEncoder.load(colbert_dir, device="cpu")
    loss = LateInteractionLoss()
    batch = {"anchor": ["a cat", "a dog"], "positive": ["cats", "dogs"], "negatives": [["fish"], ["birds"]]}
    assert torch.isfinite(loss(model, batch))
    with pytest.raises(EmbedlabError, match="needs batch column"):
        loss(model, {"anchor": ["a"]})


@pytest.mark.parametrize(("settings", "message"), [
    ({"prompts": {"query": "q: "}}, "no prompts"),
    ({"pooling": "cls"}, "no prompts, pooling"),
    ({"loss": {"name": "cosent"}}, "loss infonce"),
])
def test_bad_multi_vector_configs(colbert_dir, pairs_file, tmp_path, settings, message):
    with pytest.raises(EmbedlabError, match=message):
        config(colbert_dir, pairs_file, tmp_path, **settings)


token_rows = st.lists(arrays(np.float32, st.tuples(st.integers(1, 6), st.just(4)),
                             elements=st.floats(-1, 1, width=32)), min_size=1, max_size=5)


@given(queries=token_rows, documents=token_rows, top_k=st.integers(1, 6), chunk=st.integers(1, 20))
def test_batched_maxsim_is_pairwise_maxsim(queries, documents, top_k, chunk):
    expected = np.array([[maxsim(q, d) for d in documents] for q in queries])
    q, q_mask = pad_rows(queries, 4)
    d, d_mask = pad_rows(documents, 4)
    assert np.allclose(maxsim_scores(q, q_mask, d, d_mask).numpy(), expected, atol=1e-4)
    hits = maxsim_top_k(queries, documents, top_k, chunk_tokens=chunk)
    for row, found in zip(expected, hits):
        order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:top_k]
        assert np.allclose([h.score for h in found], row[order], atol=1e-4)


def test_empty_documents_are_refused():
    with pytest.raises(EmbedlabError, match="at least one token"):
        maxsim_top_k([np.ones((2, 4), np.float32)], [np.ones((1, 4), np.float32), np.zeros((0, 4), np.float32)], 1)


def test_a_dense_model_starts_a_seeded_colbert_model(tmp_path, tiny_encoder, pairs_file):
    from embedlab.training.build import build_model

    tiny_encoder.save(tmp_path / "dense")
    first, second, other = (build_model(config(tmp_path / "dense", pairs_file, tmp_path, seed=seed, device="cpu"))
                            for seed in (1, 1, 2))
    assert isinstance(first, MultiVectorEncoder) and first.training
    assert torch.equal(first.projection.linear.weight, second.projection.linear.weight)
    assert not torch.equal(first.projection.linear.weight, other.projection.linear.weight)
    assert first.dim == 128 and first.query_tokens("hi")[1] == "[Q]"
