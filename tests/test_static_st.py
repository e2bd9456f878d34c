"""sentence-transformers' StaticEmbedding directories, both ways; sentence-transformers builds them and is the oracle.

It keeps the truncation saved in tokenizer.json and counts the unknown token in a text's mean (model2vec and
distilled models skip it): a model keeps the rules it came with, through embedlab's saves too.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st_
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from embedlab import Encoder, StaticEncoder, load_model
from embedlab.errors import ModelLoadError

st = pytest.importorskip("sentence_transformers")
# Empty, an unknown token for MiniLM's vocabulary (🙂), unicode, over the 128 tokens its tokenizer.json keeps.
LONG = "a much longer sentence " * 40 + "cats and dogs " * 40  # its tail is past the cut, so the cut shows
TEXTS = ["", "a short one", "naïve café 東京 🙂", LONG, "two words", "🙂"]


def _st_static(root, tokenizer: Tokenizer, normalize: bool, seed: int = 0):
    from sentence_transformers.base.modules import Normalize
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    torch.manual_seed(seed)
    modules = [StaticEmbedding(tokenizer, embedding_dim=8)] + ([Normalize()] if normalize else [])
    model = st.SentenceTransformer(modules=modules, device="cpu")
    model.save(str(root))
    return root, model


@pytest.fixture(scope="module")
def wordpiece(minilm_path) -> Tokenizer:
    return Tokenizer.from_file(f"{minilm_path}/tokenizer.json")


@pytest.fixture(scope="module")
def st_static(tmp_path_factory, wordpiece):
    return _st_static(tmp_path_factory.mktemp("static") / "st", wordpiece, normalize=True)


def _bpe() -> Tokenizer:
    """A small byte-level BPE tokenizer (no unknown token), trained here on a few sentences."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["a short sentence about cats", "the road to the city", "naïve café in 東京"] * 5
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


def test_a_sentence_transformers_static_model_gives_its_vectors(st_static):
    path, oracle = st_static
    model = load_model(path)
    assert isinstance(model, StaticEncoder) and model.dim == 8
    assert model.normalize and model.max_seq_length == 128  # MiniLM's tokenizer.json truncates at 128
    assert np.abs(model.encode(TEXTS) - oracle.encode(TEXTS)).max() <= 1e-5
    assert not model.encode("").any()  # empty text: the zero vector, as sentence-transformers gives


def test_without_normalize_vectors_keep_their_length(tmp_path):
    path, oracle = _st_static(tmp_path / "bpe", _bpe(), normalize=False, seed=1)
    model = load_model(path)
    assert not model.normalize and model.max_seq_length is None
    ours = model.encode(TEXTS)
    assert np.abs(ours - oracle.encode(TEXTS)).max() <= 1e-5
    assert np.linalg.norm(ours[1]) != pytest.approx(1.0)


def test_saved_static_model_loads_in_sentence_transformers_and_back(st_static, tmp_path):
    path, oracle = st_static
    saved = load_model(path).save(tmp_path / "again")
    assert json.loads((saved / "config.json").read_text())["model_type"] == "model2vec"
    for theirs in (st.SentenceTransformer(str(saved), device="cpu"), oracle):
        assert np.abs(StaticEncoder.load_dir(saved).encode(TEXTS) - theirs.encode(TEXTS)).max() <= 1e-5


def test_a_distilled_model_keeps_skipping_unknown_tokens(st_static, wordpiece, tmp_path):
    """model2vec's rule: sentence-transformers, which counts [UNK], agrees wherever a text has no unknown token."""
    rows = np.random.default_rng(0).standard_normal((wordpiece.get_vocab_size(), 8)).astype(np.float32)
    words = [token for token, _ in sorted(wordpiece.get_vocab().items(), key=lambda item: item[1])]
    distilled = StaticEncoder(words, rows, name="distilled", tokenizer=Tokenizer.from_str(wordpiece.to_str()))
    saved = distilled.save(tmp_path / "distilled")
    theirs = st.SentenceTransformer(str(saved), device="cpu")
    known = ["", "a short one", "naïve café 東京", "two words"]
    assert np.abs(distilled.encode(known) - theirs.encode(known)).max() <= 1e-5
    mixed = "a cat 🙂"
    assert np.allclose(distilled.encode(mixed), distilled.encode("a cat"))  # skipped, not averaged in
    np.testing.assert_allclose(load_model(saved).encode(TEXTS), distilled.encode(TEXTS), atol=1e-6)
    model2vec = pytest.importorskip("model2vec")
    long = [LONG * 3]  # past model2vec's default 512 tokens: config.json's max_length null keeps it whole
    np.testing.assert_allclose(model2vec.StaticModel.from_pretrained(str(saved)).encode(long), distilled.encode(long),
                               atol=1e-5)


@settings(max_examples=40)
@given(st_.lists(st_.text(max_size=40), min_size=1, max_size=4))
def test_any_text_matches_sentence_transformers(st_static, texts):
    path, oracle = st_static
    assert np.abs(load_model(path).encode(texts) - oracle.encode(texts)).max() <= 1e-5


def _edit_modules(config, _path):
    config.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})


def _prompts(_modules, path):
    settings_path = path / "config_sentence_transformers.json"
    settings_path.write_text(json.dumps({"prompts": {"query": "query: "}}))


def _short_table(_modules, path):
    from safetensors.numpy import save_file

    save_file({"embedding.weight": np.zeros((10, 8), np.float32)}, str(path / "model.safetensors"))


def _no_weights(_modules, path):
    (path / "model.safetensors").unlink()


@pytest.mark.parametrize("edit, message", [
    (_edit_modules, r"lists \['static_embedding', 'normalize', 'dense'\]; embedlab reads a StaticEmbedding"),
    (_prompts, "gives its static model prompts"),
    (_short_table, "30522 tokens in the tokenizer but a vector table of shape"),
    (_no_weights, "has no model.safetensors"),
])
def test_broken_static_models_are_one_line_errors(st_static, tmp_path, edit, message):
    path = shutil.copytree(st_static[0], tmp_path / "broken")
    modules = json.loads((path / "modules.json").read_text())
    edit(modules, path)
    (path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelLoadError, match=message) as caught:
        load_model(path)
    assert "\n" not in str(caught.value)


def test_a_static_model_is_not_a_transformer(st_static):
    with pytest.raises(ModelLoadError, match="is a static model: load it with embedlab.load_model"):
        Encoder.load(st_static[0])


def test_a_static_module_in_its_own_directory_loads(st_static, tmp_path):
    """Hub models such as static-retrieval-mrl-en-v1 keep the StaticEmbedding in 0_StaticEmbedding/."""
    path, oracle = st_static
    copy = shutil.copytree(path, tmp_path / "nested")
    (copy / "0_StaticEmbedding").mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (copy / name).rename(copy / "0_StaticEmbedding" / name)
    modules = json.loads((copy / "modules.json").read_text())
    modules[0]["path"] = "0_StaticEmbedding"
    (copy / "modules.json").write_text(json.dumps(modules))
    assert np.abs(load_model(copy).encode(TEXTS) - oracle.encode(TEXTS)).max() <= 1e-5
