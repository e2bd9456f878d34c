"""The cross-encoder: save/load, predict and rerank order, training through the Trainer, and reranking in evaluation."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import ClassVar

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from embedlab import EmbedlabError
from embedlab.cli.app import app
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.data.training_sets import TrainingSet
from embedlab.evaluation.second_stage import fuse_runs, rerank_run
from embedlab.losses.cross_encoder import CrossEncoderBCELoss, CrossEncoderRankingLoss
from embedlab.models.cross_encoder import CrossEncoder
from embedlab.models.cross_encoder_legacy import LegacyCrossEncoder
from embedlab.training.build import build_loss, build_model, build_trainer
from embedlab.training.checkpoint import save_checkpoint
from embedlab.training.config import TrainConfig
from embedlab.training.trainer import Trainer
from tests.files import write_jsonl, write_tiny_beir
from tests.test_cli import run_cli
from tests.test_trainer import WORDS
from tests.tiny_models import make_tiny_encoder, tiny_bert

runner = CliRunner()


def tiny_cross_encoder(tokenizer, seed: int = 0) -> CrossEncoder:
    """A fresh one-label head on a tiny BERT, as training builds one from an encoder."""
    transformer = tiny_bert(len(tokenizer), seed=seed)
    torch.manual_seed(seed)
    return CrossEncoder.from_transformer(transformer, tokenizer, max_seq_length=32, name="tiny-ce")


def scored_data(n: int = 48) -> TrainingSet:
    """Pairs that share a word score 5, pairs that do not score 0: learnable by a tiny model in a few steps."""
    first = [f"{WORDS[i % 20]} {WORDS[(i + 5) % 20]}" for i in range(n)]
    second = [
        f"{WORDS[i % 20]} {WORDS[(i + 9) % 20]}" if i % 2 else f"{WORDS[(i + 3) % 20]} {WORDS[(i + 11) % 20]}"
        for i in range(n)
    ]
    return TrainingSet(
        "toy", {"sentence1": first, "sentence2": second, "score": [5.0 if i % 2 else 0.0 for i in range(n)]}
    )


def test_save_load_round_trip_predicts_the_same(tokenizer, tmp_path):
    model = tiny_cross_encoder(tokenizer)
    pairs = [("a cat", "a dog"), ("the sun", "the moon rises over the sea")]
    before = model.predict(pairs)
    model.save(tmp_path / "ce")
    loaded = CrossEncoder.load(tmp_path / "ce", device="cpu")
    np.testing.assert_allclose(loaded.predict(pairs), before, atol=1e-6)
    assert ((before > 0) & (before < 1)).all()
    np.testing.assert_allclose(
        torch.sigmoid(torch.tensor(model.predict(pairs, activation=False))).numpy(), before, atol=1e-6
    )


def test_loading_a_non_cross_encoder_is_an_error(tmp_path, tokenizer):
    make_tiny_encoder(tokenizer).save(tmp_path / "bi")
    with pytest.raises(EmbedlabError, match="not a cross-encoder"):
        CrossEncoder.load(tmp_path / "bi")


def test_rerank_orders_by_score_and_cuts_at_top_k(tokenizer):
    model = tiny_cross_encoder(tokenizer)
    documents = ["cat dog", "sun moon", "car bus road", "cat dog"]
    scores = model.predict([("cat", d) for d in documents])
    hits = model.rerank("cat", documents, top_k=3)
    assert [h.corpus_id for h in hits] == sorted(range(4), key=lambda i: (-scores[i], i))[:3]
    assert [h.text for h in hits] == [documents[h.corpus_id] for h in hits]
    assert all(a.score >= b.score for a, b in pairwise(hits))
    with pytest.raises(EmbedlabError):
        model.rerank("cat", documents, top_k=0)


def test_bce_training_through_the_trainer_learns(tokenizer, tmp_path):
    model = tiny_cross_encoder(tokenizer)
    config = TrainConfig(data=[], output_dir=str(tmp_path), max_steps=30, batch_size=16, learning_rate=2e-3,
                         eval_every=1000, checkpoint_every=1000, architecture="cross_encoder", loss={"name": "bce"})
    data = scored_data()
    report = Trainer(config, model, CrossEncoderBCELoss(5.0), MixtureSampler([data], 16)).train()
    assert sum(report.losses[-5:]) < sum(report.losses[:5])
    pairs = [("a cat", "a dog"), ("the sun", "the moon rises")]
    scores = CrossEncoder.load(tmp_path / "final").predict(pairs)
    sentence_transformers = pytest.importorskip("sentence_transformers")
    saved = sentence_transformers.CrossEncoder(str(tmp_path / "final"), device="cpu")
    np.testing.assert_allclose(saved.predict(pairs), scores, atol=1e-5)


def test_ranking_loss_scores_positive_negatives_and_next_positive():
    seen = []

    class Model:
        def score(self, firsts, seconds):
            seen.append(list(zip(firsts, seconds)))
            return torch.zeros(len(firsts), requires_grad=True)

    batch = {"anchor": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": [["n1"], ["n2"]]}
    loss = CrossEncoderRankingLoss()(Model(), batch)
    assert seen[0] == [("q1", "p1"), ("q1", "n1"), ("q1", "p2"), ("q2", "p2"), ("q2", "n2"), ("q2", "p1")]
    assert float(loss.detach()) == pytest.approx(np.log(3))


def test_cross_encoder_checkpoint_resumes(tokenizer, tmp_path):
    model = tiny_cross_encoder(tokenizer)
    config = TrainConfig(data=[], output_dir=str(tmp_path), max_steps=4, batch_size=16, eval_every=1000,
                         architecture="cross_encoder", loss={"name": "bce"})
    trainer = Trainer(config, model, CrossEncoderBCELoss(), MixtureSampler([scored_data()], 16))
    save_checkpoint(tmp_path / "checkpoint", model, trainer._state())
    fresh = Trainer(
        config, tiny_cross_encoder(tokenizer, seed=5), CrossEncoderBCELoss(), MixtureSampler([scored_data()], 16)
    )
    fresh._resume()
    for mine, theirs in zip(model.state_dict().values(), fresh.model.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_build_trainer_makes_a_cross_encoder_from_an_encoder_dir(tokenizer, tmp_path):
    make_tiny_encoder(tokenizer).save(tmp_path / "base")
    data = write_jsonl(tmp_path / "scored.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in
                                                     zip(*scored_data(16).columns.values())])
    config = TrainConfig(
        data=[{"path": str(data)}],
        model=str(tmp_path / "base"),
        output_dir=str(tmp_path / "run"),
        batch_size=8,
        max_steps=2,
        eval_data=str(data),
        architecture="cross_encoder",
        loss={"name": "bce"},
    )
    trainer = build_trainer(config)
    assert isinstance(trainer.model, CrossEncoder) and isinstance(trainer.loss, CrossEncoderBCELoss)
    report = trainer.train()
    assert report.evaluations and "spearman" in report.evaluations[0]


def test_build_trainer_continues_a_trained_cross_encoder_with_its_head(tokenizer, tmp_path):
    trained = tiny_cross_encoder(tokenizer, seed=3)
    with torch.no_grad():
        trained.model.classifier.weight.fill_(0.25)
    trained.save(tmp_path / "ce")
    config = TrainConfig(data=[], model=str(tmp_path / "ce"), output_dir=str(tmp_path / "run"), max_seq_length=24,
                         architecture="cross_encoder", loss={"name": "bce"}, eval_data=None)
    model = build_model(config)
    assert isinstance(model, CrossEncoder) and model.training
    weight = model.model.classifier.weight
    assert torch.equal(weight, torch.full_like(weight, 0.25))
    assert model.max_seq_length == 24


def test_build_trainer_continues_a_legacy_cross_encoder_in_its_format(tokenizer, tmp_path):
    LegacyCrossEncoder(make_tiny_encoder(tokenizer)).save(tmp_path / "old")
    config = TrainConfig(data=[], model=str(tmp_path / "old"), output_dir=str(tmp_path / "run"), max_seq_length=24,
                         architecture="cross_encoder", loss={"name": "bce"}, eval_data=None)
    model = build_model(config)
    assert isinstance(model, LegacyCrossEncoder) and model.training and model.max_seq_length == 24
    assert isinstance(build_loss(config.loss, model), CrossEncoderBCELoss)


def test_rerank_run_reorders_only_the_top_n():
    class Fixed:
        name = "fixed"

        def predict(self, pairs, batch_size=32, activation=True):
            return np.array([{"c": 3.0, "b": 2.0, "a": 1.0}[doc[-1]] for _, doc in pairs])

    dataset = load_beir_like()
    run = {"q": {"da": 0.9, "db": 0.8, "dc": 0.7, "dd": 0.6}}
    reranked = rerank_run(Fixed(), dataset, run, top_n=3)
    assert sorted(reranked["q"], key=lambda d: -reranked["q"][d]) == ["dc", "db", "da", "dd"]


def load_beir_like():
    class Dataset:
        queries: ClassVar[dict[str, str]] = {"q": "query"}

        def doc_ids(self):
            return ["da", "db", "dc", "dd"]

        def doc_texts(self):
            return ["text a", "text b", "text c", "text d"]

    return Dataset()


def test_reciprocal_rank_fusion_by_hand():
    first = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    second = {"q": {"c": 9.0, "a": 8.0}}
    fused = fuse_runs([first, second], depth=2, k=0)
    # a: 1/1 + 1/2, c: 1/3 + 1/1, b: 1/2
    assert fused == {"q": {"a": pytest.approx(1.5), "c": pytest.approx(4 / 3)}}


@pytest.fixture
def tiny_beir(tmp_path):
    beir = tmp_path / "beir"
    write_tiny_beir(beir)
    return beir


def test_eval_retrieval_with_rerank_and_hybrid(tiny_beir, tokenizer, tmp_path):
    tiny_cross_encoder(tokenizer).save(tmp_path / "ce")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "retrieval", "-d", str(tiny_beir), "--rerank", str(tmp_path / "ce"),
                                 "--rerank-top", "2", "--hybrid", "--no-cache", "--json", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["settings"]["rerank_top"] == 2 and saved["settings"]["first_stage_ndcg@10"] == pytest.approx(1.0)
    assert "hybrid" in saved["settings"] and saved["model"].endswith(f"+ {tmp_path / 'ce'}")
    # Only the top 2 are re-ordered, so recall@100 stays that of the first stage.
    assert saved["metrics"]["recall@100"] == pytest.approx(1.0)


def test_rerank_fusion_keeps_the_first_stage_in_the_order(tiny_beir, minilm):
    from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval

    class Reversing:
        """Scores the first-stage order backwards, so fusion must land between the two orders."""

        name = "reversing"

        def predict(self, pairs, batch_size=32, activation=True):
            return np.arange(len(pairs), dtype=np.float32)

    plain = evaluate_retrieval(minilm, tiny_beir, RetrievalConfig(use_cache=False), reranker=Reversing())
    fused = evaluate_retrieval(
        minilm, tiny_beir, RetrievalConfig(use_cache=False, rerank_fusion=True), reranker=Reversing()
    )
    first = fused.settings["first_stage_ndcg@10"]
    assert fused.settings["reranked_ndcg@10"] == pytest.approx(plain.metrics["ndcg@10"])
    assert plain.metrics["ndcg@10"] < first
    assert plain.metrics["ndcg@10"] < fused.metrics["ndcg@10"] <= first
    assert "rerank_fusion" in fused.settings and "rerank_fusion" not in plain.settings


def test_mining_with_a_cross_encoder_judge(tiny_beir, tokenizer, tmp_path):
    (tiny_beir / "qrels/train.tsv").write_text((tiny_beir / "qrels/test.tsv").read_text())
    tiny_cross_encoder(tokenizer).save(tmp_path / "ce")
    done = run_cli("mine", "-d", str(tiny_beir), "-o", str(tmp_path / "m.jsonl"), "--count", "1", "--window", "1", "3",
                   "--no-margin", "--judge", str(tmp_path / "ce"), "--judge-threshold", "1.0")
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, message", [
    (["--rerank", "/nowhere/ce"], "not a cross-encoder"),
    (["--rerank-top", "0"], "rerank_top"),
    (["-m", "bm25", "--hybrid"], "hybrid fuses"),
])
def test_eval_retrieval_bad_rerank_input_is_one_line(tiny_beir, args, message):
    done = run_cli("eval", "retrieval", "-d", str(tiny_beir), "--no-cache", *args)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_cross_encoder_is_not_an_embedding_model(tokenizer, tmp_path):
    tiny_cross_encoder(tokenizer).save(tmp_path / "ce")
    done = run_cli("eval", "retrieval", "-d", str(tmp_path), "-m", str(tmp_path / "ce"))
    assert done.returncode == 1 and "is a cross-encoder" in done.stderr
