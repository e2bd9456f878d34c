"""Cross-encoders in sentence-transformers' format: scores equal CrossEncoder.predict for every saved version,
what embedlab saves loads there, and broken directories are one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hst

from embedlab import EmbedlabError, load_model
from embedlab.models.cross_encoder import CrossEncoder, is_cross_encoder_dir, load_reranker
from embedlab.models.cross_encoder_legacy import LegacyCrossEncoder
from tests.test_cli import run_cli
from tests.tiny_cross_encoders import (
    bert_cross_encoder_dir,
    edit_json,
    save_by_sentence_transformers,
    save_hf,
    tiny_bert_classifier,
    tiny_xlmr_classifier,
    xlmr_tokenizer,
)
from tests.tiny_models import make_tiny_encoder

st = pytest.importorskip("sentence_transformers")

PAIRS = [
    ("a cat sat on the mat", "the dog slept by the door"),
    ("", "empty query"),
    ("empty document", ""),
    ("", ""),
    ("über die straße ☃", "東京の天気は晴れです 🌧"),
    ("markets fell", " ".join(["investors sold stocks and bought bonds"] * 30)),  # over-long: truncated
    (" ".join(["snow on the hills"] * 25), " ".join(["wind in the city"] * 25)),
    ("she plays the piano", "he plays the violin in the evening"),
]


def st_scores(path, **kwargs) -> np.ndarray:
    return st.CrossEncoder(str(path), device="cpu").predict(PAIRS, batch_size=3, **kwargs)


def assert_same_as_st(path, ours=None) -> None:
    ours = ours or CrossEncoder.load(path, device="cpu")
    theirs = st_scores(path)
    mine = ours.predict(PAIRS, batch_size=4)
    assert mine.shape == theirs.shape
    np.testing.assert_allclose(mine, theirs, atol=1e-5, rtol=0)
    assert np.ptp(mine.reshape(len(PAIRS), -1)[:, 0]) > 1e-3  # the fixture really separates pairs


@pytest.fixture(scope="module")
def xlmr(tmp_path_factory):
    tokenizer = xlmr_tokenizer()
    path = tmp_path_factory.mktemp("xlmr") / "ce"
    return save_by_sentence_transformers(tiny_xlmr_classifier(len(tokenizer)), tokenizer, path)


@pytest.fixture(scope="module")
def xlmr_models(xlmr):
    return CrossEncoder.load(xlmr, device="cpu"), st.CrossEncoder(str(xlmr), device="cpu")


@pytest.fixture(scope="module")
def bert(tmp_path_factory, tokenizer):
    return bert_cross_encoder_dir(tokenizer, tmp_path_factory.mktemp("bert") / "ce")


@pytest.mark.parametrize("family", ["bert", "xlmr"])
def test_scores_equal_sentence_transformers_and_both_round_trips(family, request, tmp_path):
    path = request.getfixturevalue(family)
    model = CrossEncoder.load(path, device="cpu")
    assert (model.num_labels, type(model.activation).__name__) == (1, "Sigmoid")
    assert_same_as_st(path, model)
    raw = st_scores(path, activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(model.predict(PAIRS, activation=False), raw, atol=1e-5, rtol=0)
    model.save(tmp_path / "ours")
    assert_same_as_st(tmp_path / "ours")  # sentence-transformers loads what embedlab saved, and so does embedlab
    config = json.loads((tmp_path / "ours/config_sentence_transformers.json").read_text())
    assert config["model_type"] == "CrossEncoder" and config["activation_fn"].endswith("Sigmoid")
    older = json.loads((tmp_path / "ours/config.json").read_text())["sentence_transformers"]  # read by v4-v5
    assert older["activation_fn"] == config["activation_fn"]


def test_several_labels_give_per_class_scores(tokenizer, tmp_path):
    path = bert_cross_encoder_dir(tokenizer, tmp_path / "nli", num_labels=3)
    model = CrossEncoder.load(path, device="cpu")
    assert model.num_labels == 3 and type(model.activation).__name__ == "Identity"
    assert_same_as_st(path, model)
    assert model.predict(PAIRS).shape == (len(PAIRS), 3)
    for use in (lambda: load_reranker(path), lambda: model.rerank("q", ["a", "b"])):
        with pytest.raises(EmbedlabError, match="3 scores per pair.*num_labels=1"):
            use()


@pytest.mark.parametrize(
    "version, activation",
    [
        ("plain", None),  # a Hugging Face directory: sigmoid, the default for one label
        ("before-v4", "torch.nn.modules.linear.Identity"),
        ("v4-v5", "torch.nn.modules.activation.Tanh"),
    ],
)
def test_older_sentence_transformers_directories(version, activation, tokenizer, tmp_path):
    path = save_hf(tiny_bert_classifier(len(tokenizer), seed=2), tokenizer, tmp_path / version)
    if version == "before-v4":
        edit_json(path / "config.json", sbert_ce_default_activation_function=activation)
    elif version == "v4-v5":
        edit_json(path / "config.json", sentence_transformers={"activation_fn": activation, "version": "4.1.0"})
    assert is_cross_encoder_dir(path)
    model = CrossEncoder.load(path, device="cpu")
    assert type(model.activation).__name__ == (activation or "Sigmoid").rsplit(".", 1)[-1]
    assert_same_as_st(path, model)
    assert_same_as_st(model.save(tmp_path / "saved"))  # saved as v6, the activation kept


def test_a_length_limit_in_sentence_bert_config_truncates_as_sentence_transformers_does(bert, tmp_path):
    path = shutil.copytree(bert, tmp_path / "short")
    edit_json(path / "sentence_bert_config.json", max_seq_length=12)
    model = CrossEncoder.load(path, device="cpu")
    assert model.max_seq_length == 12
    assert_same_as_st(path, model)


def test_do_lower_case_lowers_both_texts_as_sentence_transformers_does(xlmr, tmp_path):
    path = shutil.copytree(xlmr, tmp_path / "lower")
    edit_json(path / "sentence_bert_config.json", do_lower_case=True)
    model = CrossEncoder.load(path, device="cpu")
    upper = [(a.title(), b.title()) for a, b in PAIRS]  # title(), as upper() spells ß as SS
    np.testing.assert_allclose(model.predict(upper), model.predict(PAIRS), atol=1e-6)
    assert_same_as_st(path, model)
    model.save(tmp_path / "saved")
    assert CrossEncoder.load(tmp_path / "saved").settings.do_lower_case


@settings(max_examples=15)
@given(st_pairs=hst.lists(hst.tuples(hst.text(max_size=60), hst.text(max_size=60)), min_size=1, max_size=6))
def test_any_text_scores_as_in_sentence_transformers(xlmr_models, st_pairs):
    ours, theirs = xlmr_models
    np.testing.assert_allclose(ours.predict(st_pairs), theirs.predict(st_pairs), atol=1e-5, rtol=0)


def test_an_activation_outside_torch_falls_back_to_the_default_as_sentence_transformers_does(bert, tmp_path):
    path = shutil.copytree(bert, tmp_path / "foreign")
    edit_json(path / "config_sentence_transformers.json", activation_fn="mypackage.evil.Activation")
    with pytest.warns(UserWarning, match="not a torch class"):
        model = CrossEncoder.load(path, device="cpu")
    assert type(model.activation).__name__ == "Sigmoid"
    assert_same_as_st(path, model)


def test_embedlab_trained_cross_encoders_load_in_sentence_transformers(tokenizer, tmp_path):
    encoder = make_tiny_encoder(tokenizer)
    encoder.save(tmp_path / "bi")
    model = CrossEncoder.from_encoder(tmp_path / "bi", device="cpu")
    assert model.num_labels == 1
    for mine, theirs in zip(encoder.transformer.state_dict().items(), model.model.bert.state_dict().items()):
        assert mine[0] == theirs[0] and torch.equal(mine[1], theirs[1])
    model.save(tmp_path / "ce")
    assert is_cross_encoder_dir(tmp_path / "ce")
    np.testing.assert_allclose(model.predict(PAIRS), st_scores(tmp_path / "ce"), atol=1e-5, rtol=0)


def test_legacy_directories_still_load_and_score_as_before(tokenizer, tmp_path):
    torch.manual_seed(0)
    legacy = LegacyCrossEncoder(make_tiny_encoder(tokenizer), name="old-ce")
    before = legacy.predict(PAIRS)
    legacy.save(tmp_path / "old")
    assert is_cross_encoder_dir(tmp_path / "old")
    loaded = CrossEncoder.load(tmp_path / "old", device="cpu")
    assert isinstance(loaded, LegacyCrossEncoder) and loaded.name == "old-ce"
    np.testing.assert_allclose(loaded.predict(PAIRS), before, atol=1e-6)
    assert load_reranker(tmp_path / "old") is not None


@pytest.mark.parametrize("kind", ["v6", "plain", "legacy"])
def test_load_model_refuses_every_cross_encoder_format_in_one_line(kind, bert, tokenizer, tmp_path):
    if kind == "v6":
        path = bert
    elif kind == "plain":
        path = save_hf(tiny_bert_classifier(len(tokenizer)), tokenizer, tmp_path / "plain")
    else:
        path = LegacyCrossEncoder(make_tiny_encoder(tokenizer)).save(tmp_path / "legacy")
    with pytest.raises(EmbedlabError, match="is a cross-encoder.*--rerank"):
        load_model(str(path))
    done = run_cli("eval", "retrieval", "-d", str(tmp_path), "-m", str(path))
    assert done.returncode == 1 and "is a cross-encoder" in done.stderr and "Traceback" not in done.stderr


def test_a_bi_encoder_is_not_a_cross_encoder(tokenizer, tmp_path):
    make_tiny_encoder(tokenizer).save(tmp_path / "bi")
    assert not is_cross_encoder_dir(tmp_path / "bi")
    with pytest.raises(EmbedlabError, match="not a cross-encoder"):
        CrossEncoder.load(tmp_path / "bi")


def _break(path, how, tokenizer):
    if how == "malformed config":
        (path / "config.json").write_text("{not json")
    elif how == "truncated weights":
        weights = path / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif how == "weights do not fit":
        edit_json(path / "config.json", hidden_size=48, intermediate_size=96)
    elif how == "remote code":
        edit_json(
            path / "config.json",
            model_type="my-reranker",
            auto_map={"AutoModelForSequenceClassification": "modeling.MyReranker"},
        )
    elif how == "missing head":
        from safetensors.torch import load_file, save_file

        weights = {k: v for k, v in load_file(path / "model.safetensors").items() if "classifier" not in k}
        save_file(weights, str(path / "model.safetensors"))
    elif how == "extra module":
        (path / "modules.json").write_text(
            json.dumps(
                [
                    {
                        "idx": 0,
                        "name": "0",
                        "path": "",
                        "type": "sentence_transformers.base.modules.transformer.Transformer",
                    },
                    {
                        "idx": 1,
                        "name": "1",
                        "path": "1_Dense",
                        "type": "sentence_transformers.base.modules.dense.Dense",
                    },
                ]
            )
        )
    elif how == "bad length":
        edit_json(path / "sentence_bert_config.json", max_seq_length="long")
    elif how == "bad activation":
        edit_json(path / "config_sentence_transformers.json", activation_fn="torch.nn.NoSuchLayer")
    elif how == "pickle only":
        (path / "model.safetensors").rename(path / "pytorch_model.bin")
    elif how == "small vocabulary":
        edit_json(path / "config.json", vocab_size=100)
        from safetensors.torch import load_file, save_file

        weights = load_file(path / "model.safetensors")
        weights = {k: (v[:100] if "word_embeddings" in k else v) for k, v in weights.items()}
        save_file(weights, str(path / "model.safetensors"))


@pytest.mark.parametrize(
    "how, message",
    [
        ("malformed config", "malformed JSON"),
        ("truncated weights", "could not load the cross-encoder"),
        ("weights do not fit", "could not load the cross-encoder"),
        ("remote code", "needs trust_remote_code"),
        ("missing head", "lacks weights for"),
        ("extra module", "one\nsequence-classification Transformer".replace("\n", " ")),
        ("bad activation", "not a torch.nn module class"),
        ("bad length", "max_seq_length in .* must be a positive integer"),
        ("pickle only", "pickle"),
        ("small vocabulary", "tokenizer has"),
    ],
)
def test_broken_directories_are_one_line_errors(how, message, bert, tokenizer, tmp_path):
    path = shutil.copytree(bert, tmp_path / "broken")
    _break(path, how, tokenizer)
    with pytest.raises(EmbedlabError, match=message) as caught:
        CrossEncoder.load(path, device="cpu")
    assert "\n" not in str(caught.value)


def test_training_continues_a_sentence_transformers_cross_encoder_with_its_head(bert, tmp_path):
    from embedlab.training.build import build_model
    from embedlab.training.config import TrainConfig

    config = TrainConfig(
        data=[],
        model=str(bert),
        output_dir=str(tmp_path),
        architecture="cross_encoder",
        loss={"name": "bce"},
        eval_data=None,
        max_seq_length=16,
    )
    model = build_model(config)
    assert isinstance(model, CrossEncoder) and model.training and model.max_seq_length == 16
    saved = st.CrossEncoder(str(bert), device="cpu").model.classifier.weight
    assert torch.equal(model.model.classifier.weight, saved)
