"""Two-tower models as sentence-transformers Router models, both ways; sentence-transformers is the oracle.

Its encode_query / encode_document must give our towers' encode_queries / encode_documents, for Routers it
builds itself (Dense heads, a Normalize after the Router) and for the ones embedlab saves.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from embedlab import Encoder, load_model
from embedlab.errors import ModelLoadError
from embedlab.models.two_tower import MARKER, TwoTowerEncoder
from tests.tiny_models import make_tiny_encoder, tiny_bert

pytestmark = pytest.mark.filterwarnings("ignore:.*truncated")
st = pytest.importorskip("sentence_transformers")
TEXTS = ["", "a short one", "naïve café 東京 🙂", "a much longer sentence " * 30, "two words"]
PROMPTS = {"query": "query: ", "document": "passage: "}


def _transformer(root, tokenizer, seed: int):
    from sentence_transformers.base.modules import Transformer

    bert_dir = root / f"bert{seed}"
    tiny_bert(len(tokenizer), seed=seed, pooler=False, initializer_range=0.5).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    return Transformer(str(bert_dir), max_seq_length=24)


@pytest.fixture(scope="module")
def st_router(tmp_path_factory, tokenizer):
    """A Router saved by sentence-transformers: mean + Dense for queries, CLS + Dense for documents, then Normalize."""
    from sentence_transformers.base.modules import Dense, Normalize, Router
    from sentence_transformers.sentence_transformer.modules import Pooling

    root = tmp_path_factory.mktemp("router")
    torch.manual_seed(7)
    router = Router.for_query_document(
        query_modules=[_transformer(root, tokenizer, 1), Pooling(32, pooling_mode="mean"), Dense(32, 16)],
        document_modules=[_transformer(root, tokenizer, 2), Pooling(32, pooling_mode="cls"), Dense(32, 16)],
    )
    model = st.SentenceTransformer(modules=[router, Normalize()], prompts=dict(PROMPTS))
    model.save(str(root / "st"))
    return root / "st", model


def _worst(ours: TwoTowerEncoder, theirs) -> float:
    pairs = [
        (ours.encode_queries(TEXTS), theirs.encode_query(TEXTS)),
        (ours.encode_documents(TEXTS), theirs.encode_document(TEXTS)),
        (ours.encode(TEXTS), theirs.encode(TEXTS)),
    ]
    return max(float(np.abs(a - b).max()) for a, b in pairs)


def test_a_sentence_transformers_router_loads_as_two_towers(st_router):
    path, oracle = st_router
    model = load_model(path)
    assert isinstance(model, TwoTowerEncoder) and model.dim == 16
    assert model.query_prompt == "query: " and model.document_prompt == "passage: "
    assert model.query_encoder.pooling.strategy == "mean" and model.document_encoder.pooling.strategy == "cls"
    assert _worst(model, oracle) <= 1e-5


def test_saved_router_loads_in_sentence_transformers_and_back(st_router, tmp_path):
    path, oracle = st_router
    saved = load_model(path).save(tmp_path / "again")
    config = json.loads((saved / "router_config.json").read_text())
    modules = ["query_0_Transformer", "query_1_Pooling", "query_2_Dense", "query_3_Normalize"]
    assert config["structure"]["query"] == modules
    assert (saved / "document_0_Transformer" / "tokenizer.json").is_file()
    assert _worst(load_model(saved), st.SentenceTransformer(str(saved), device="cpu")) <= 1e-5
    assert _worst(load_model(saved), oracle) <= 1e-5


def test_trained_towers_load_in_sentence_transformers(tokenizer, tmp_path):
    query = make_tiny_encoder(tokenizer, seed=1)
    query.layout.prompts = {"query": "query: ", "classification": "topic: "}
    model = TwoTowerEncoder(query, make_tiny_encoder(tokenizer, seed=2))
    saved = model.save(tmp_path / "towers")
    theirs = st.SentenceTransformer(str(saved), device="cpu")
    assert theirs.prompts["query"] == "query: " and theirs.prompts["classification"] == "topic: "
    assert _worst(model, theirs) <= 1e-5
    assert not np.allclose(model.encode_queries(TEXTS[1:2]), model.encode_documents(TEXTS[1:2]), atol=1e-3)
    assert _worst(load_model(saved), theirs) <= 1e-5


def test_the_earlier_two_tower_json_layout_still_loads(tokenizer, tmp_path):
    model = TwoTowerEncoder(make_tiny_encoder(tokenizer, seed=1), make_tiny_encoder(tokenizer, seed=2))
    model.query_encoder.save(tmp_path / "old" / "query")
    model.document_encoder.save(tmp_path / "old" / "document")
    (tmp_path / "old" / MARKER).write_text(json.dumps({"format": "embedlab.two_tower"}))
    loaded = load_model(tmp_path / "old")
    assert isinstance(loaded, TwoTowerEncoder)
    np.testing.assert_allclose(loaded.encode_queries(TEXTS), model.encode_queries(TEXTS), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_documents(TEXTS), model.encode_documents(TEXTS), atol=1e-6)
    # Saving over it writes the Router format in its place.
    loaded.save(tmp_path / "old")
    assert not (tmp_path / "old" / MARKER).exists() and (tmp_path / "old" / "router_config.json").is_file()


def _broken(st_router, tmp_path, edit) -> str:
    path = shutil.copytree(st_router[0], tmp_path / "broken")
    config = json.loads((path / "router_config.json").read_text())
    edit(config, path)
    (path / "router_config.json").write_text(json.dumps(config))
    return str(path)


def _drop_document(config, _path):
    del config["structure"]["document"]


def _unknown_module(config, _path):
    config["types"]["query_2_Dense"] = "sentence_transformers.models.CNN"


def _outside(config, _path):
    config["structure"]["query"][0] = "../bert1"
    config["types"]["../bert1"] = "sentence_transformers.base.modules.transformer.Transformer"


def _narrow_query(config, _path):
    config["structure"]["query"] = config["structure"]["query"][:2]  # no Dense: 32 wide, documents 16


def _pooling_first(config, _path):
    config["structure"]["query"] = config["structure"]["query"][1:]


@pytest.mark.parametrize("edit, message", [
    (_drop_document, r"routes \['query'\]; embedlab reads Router models with a query and a document route"),
    (_unknown_module, "'sentence_transformers.models.CNN' .* is not supported"),
    (_outside, "not a directory inside"),
    (_narrow_query, "the towers differ in width: 32 vs 16"),
    (_pooling_first, "the query route starts with a pooling module"),
])
def test_broken_routers_are_one_line_errors(st_router, tmp_path, edit, message):
    with pytest.raises(ModelLoadError, match=message) as caught:
        load_model(_broken(st_router, tmp_path, edit))
    assert "\n" not in str(caught.value)


def test_a_router_is_not_a_plain_encoder(st_router):
    with pytest.raises(ModelLoadError, match="holds a router model: load it with embedlab.load_model"):
        Encoder.load(st_router[0])


def test_a_router_whose_routes_share_modules_loads(tokenizer, tmp_path):
    """sentence-transformers saves a module used by both routes once; each tower gets its own copy here."""
    from sentence_transformers.base.modules import Router
    from sentence_transformers.sentence_transformer.modules import Pooling

    shared, pooling = _transformer(tmp_path, tokenizer, 3), Pooling(32, pooling_mode="mean")
    router = Router.for_query_document(query_modules=[shared, pooling], document_modules=[shared, pooling])
    oracle = st.SentenceTransformer(modules=[router], device="cpu")
    oracle.save(str(tmp_path / "tied"))
    assert json.loads((tmp_path / "tied" / "router_config.json").read_text())["structure"]["document"][0] == (
        "query_0_Transformer"
    )
    assert _worst(load_model(tmp_path / "tied"), oracle) <= 1e-5
