"""Asymmetric retrieval: prefix prompts applied in training and saved, and two untied towers saved as one model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from embedlab import EmbedlabError, Encoder
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
from embedlab.losses import InfoNCELoss
from embedlab.losses.asymmetric import AsymmetricLoss
from embedlab.models.loading import load_model
from embedlab.models.two_tower import TwoTowerEncoder
from embedlab.training.build import build_loss, train
from embedlab.training.config import LossSpec, TrainConfig
from embedlab.training.trainer import Trainer
from tests.files import write_jsonl
from tests.test_trainer import pair_data
from tests.tiny_models import make_tiny_encoder

PROMPTS = {"query": "query: ", "document": "passage: "}


def trained_towers(tokenizer, tmp_path, steps: int = 4) -> TwoTowerEncoder:
    model = TwoTowerEncoder.from_encoder(make_tiny_encoder(tokenizer))
    config = TrainConfig(data=[], output_dir=str(tmp_path / "run"), max_steps=steps, batch_size=8, learning_rate=1e-3,
                         eval_every=1000, checkpoint_every=1000, architecture="two_tower")
    Trainer(config, model, build_loss(LossSpec(), model), MixtureSampler([pair_data()], 8)).train()
    return model


def test_towers_train_apart_and_round_trip(tokenizer, tmp_path):
    model = trained_towers(tokenizer, tmp_path)
    texts = ["the cat and the dog", "a road to the city"]
    queries, documents = model.encode_queries(texts), model.encode_documents(texts)
    assert not np.allclose(queries, documents, atol=1e-4)  # untied: one training run moved them differently
    loaded = load_model(tmp_path / "run" / "final")
    assert isinstance(loaded, TwoTowerEncoder)
    np.testing.assert_allclose(loaded.encode_queries(texts), queries, atol=1e-6)
    np.testing.assert_allclose(loaded.encode_documents(texts), documents, atol=1e-6)
    np.testing.assert_allclose(loaded.encode(texts), documents, atol=1e-6)
    # The saved model is a sentence-transformers Router: its routes are our towers (tests/test_router.py).
    assert (tmp_path / "run" / "final" / "router_config.json").is_file()


def test_two_tower_evaluates_through_encode_queries_and_documents(tokenizer, tmp_path):
    beir = tmp_path / "beir"
    write_jsonl(
        beir / "corpus.jsonl",
        [{"_id": f"d{i}", "text": f"document about {w}"} for i, w in enumerate(["cats", "roads"])],
    )
    write_jsonl(beir / "queries.jsonl", [{"_id": "q1", "text": "cats"}])
    (beir / "qrels").mkdir()
    (beir / "qrels/test.tsv").write_text("q1\td0\t1\n")
    model = TwoTowerEncoder.from_encoder(make_tiny_encoder(tokenizer))
    result = evaluate_retrieval(model, beir, RetrievalConfig(use_cache=False))
    assert 0 <= result.main_score <= 1 and result.settings["model_info"]["kind"] == "two_tower"


def test_saving_over_a_foreign_directory_is_refused(tokenizer, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EmbedlabError, match="refusing"):
        TwoTowerEncoder.from_encoder(make_tiny_encoder(tokenizer)).save(tmp_path)


class Recorder:
    """A model stand-in that records which texts went through which side."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {"query": [], "document": []}

    def _vectors(self, side: str, texts) -> torch.Tensor:
        self.seen[side] += list(texts)
        return torch.randn(len(texts), 4, requires_grad=True)

    def embed_queries(self, texts):
        return self._vectors("query", texts)

    def embed_documents(self, texts):
        return self._vectors("document", texts)


def test_asymmetric_loss_routes_anchors_to_queries():
    model = Recorder()
    batch = {"anchor": ["q1", "q2"], "positive": ["p1", "p2"], "negatives": [["n1"], ["n2"]]}
    AsymmetricLoss(InfoNCELoss())(model, batch).backward()
    assert model.seen == {"query": ["q1", "q2"], "document": ["p1", "p2", "n1", "n2"]}


def test_embed_queries_matches_encode_queries_with_prompts(minilm):
    model = Encoder.load(minilm.layout.transformer_dir, device="cpu")
    model.layout.prompts = dict(PROMPTS)
    with torch.no_grad():
        embedded = torch.nn.functional.normalize(model.embed_queries(["a small cat"]), dim=-1).numpy()
    np.testing.assert_allclose(embedded, model.encode_queries(["a small cat"]).reshape(1, -1), atol=1e-5)
    np.testing.assert_allclose(
        model.encode_queries(["a small cat"]), model.encode(["a small cat"], prompt="query: "), atol=1e-6
    )


def test_prefix_mode_trains_with_prompts_and_saves_them(tmp_path, minilm):
    data = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"anchor": f"question {i} about {w}", "positive": f"an answer on {w} {i}"}
            for i, w in enumerate(["cats", "dogs", "roads", "rain", "snow", "fish"])
        ],
    )
    config = TrainConfig(data=[{"path": str(data), "kind": "pairs"}], output_dir=str(tmp_path / "run"), max_steps=2,
                         batch_size=4, eval_data=None, prompts=dict(PROMPTS))
    train(config)
    saved = json.loads((tmp_path / "run" / "final" / "config_sentence_transformers.json").read_text())
    assert saved["prompts"] == PROMPTS
    model = Encoder.load(tmp_path / "run" / "final")
    assert model.query_prompt == "query: " and model.document_prompt == "passage: "
    st = pytest.importorskip("sentence_transformers")
    theirs = st.SentenceTransformer(str(tmp_path / "run" / "final"), device="cpu")
    assert theirs.prompts["query"] == "query: "
    np.testing.assert_allclose(theirs.encode(["cats"], prompt_name="query"), model.encode_queries(["cats"]), atol=1e-5)


@pytest.mark.parametrize("settings, message", [
    ({"prompts": PROMPTS, "loss": {"name": "cosent"}}, "query/document loss"),
    ({"architecture": "two_tower", "loss": {"name": "softmax"}}, "query/document loss"),
    ({"prompts": {"question": "q: "}}, "prompts must map"),
    ({"architecture": "three_tower"}, "architecture must be one of"),
    ({"loss": {"name": "bce"}}, "cross_encoder"),
    ({"architecture": "cross_encoder", "loss": {"name": "cosent"}}, "cross_encoder trains with"),
    ({"architecture": "cross_encoder", "loss": {"name": "bce"}, "pooling": "cls"}, "drop pooling"),
])
def test_bad_asymmetric_configs_are_one_line_errors(settings, message):
    with pytest.raises(EmbedlabError, match=message):
        TrainConfig(**settings)


def test_cached_loss_cannot_be_asymmetric():
    from embedlab.losses import CachedInfoNCELoss

    with pytest.raises(EmbedlabError, match="its own way"):
        AsymmetricLoss(CachedInfoNCELoss())
