"""Static distillation: table shape and weights, saving in model2vec's format, loading, the CLI."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.cli.app import app
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.distill import UNUSED_TOKEN, DistillConfig, distill, token_probabilities, token_vectors
from embedlab.models.loading import load_model
from embedlab.models.static_encoder import StaticEncoder
from tests.tiny_models import make_tiny_encoder

TEXTS = ["A man is playing a guitar.", "The stock market fell.", "", "zzzqqq"]


@pytest.fixture(scope="module")
def tiny_teacher(minilm) -> Encoder:
    """A one-layer, 32-wide BERT with MiniLM's tokenizer: the whole vocabulary runs through it in seconds."""
    return make_tiny_encoder(minilm.tokenizer, layers=1)


@pytest.fixture(scope="module")
def tiny_static(tiny_teacher) -> StaticEncoder:
    return distill(tiny_teacher, DistillConfig(dim=8))


def test_table_has_a_row_per_token_and_zero_rows_for_placeholders(tiny_static, tiny_teacher) -> None:
    table = tiny_static._vectors
    words = [w for w, _ in sorted(tiny_teacher.tokenizer.get_vocab().items(), key=lambda item: item[1])]
    assert table.shape == (len(words), 8)
    unused = [i for i, w in enumerate(words) if UNUSED_TOKEN.fullmatch(w)]
    special = list(tiny_teacher.tokenizer.all_special_ids)
    assert unused and not table[unused + special].any()
    assert np.linalg.norm(table, axis=1)[[words.index("guitar"), words.index("market")]].min() > 0


def test_encode_is_the_mean_of_token_rows(tiny_static, tiny_teacher) -> None:
    ids = tiny_teacher.tokenizer("A man is playing a guitar.", add_special_tokens=False)["input_ids"]
    expected = tiny_static._vectors[ids].mean(axis=0)
    np.testing.assert_allclose(tiny_static.encode(TEXTS[0], normalize=False), expected, rtol=1e-5, atol=1e-6)
    vectors = tiny_static.encode(TEXTS)
    assert vectors.shape == (4, 8) and not vectors[2].any()  # the empty text is the zero vector


def test_saved_model_loads_everywhere_with_the_same_vectors(tiny_static, tmp_path) -> None:
    path = tiny_static.save(tmp_path / "static", config={"embedlab": {"teacher": "tiny"}})
    for loaded in (load_model(str(path)), StaticEncoder.load_dir(path)):
        assert isinstance(loaded, StaticEncoder)
        np.testing.assert_allclose(loaded.encode(TEXTS), tiny_static.encode(TEXTS), atol=1e-6)
    with pytest.raises(EmbedlabError, match="no backends"):
        load_model(path, backend="onnx")
    with pytest.raises(ModelLoadError, match="is a static model: load it with embedlab.load_model"):
        Encoder.load(path)


def test_model2vec_reads_what_distill_writes(tiny_static, tmp_path) -> None:
    model2vec = pytest.importorskip("model2vec")
    path = tiny_static.save(tmp_path / "static")
    theirs = model2vec.StaticModel.from_pretrained(str(path)).encode(TEXTS[:2])
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    np.testing.assert_allclose(theirs, tiny_static.encode(TEXTS[:2]), atol=1e-5)


def test_word_frequencies_give_frequent_pieces_more_mass(tiny_teacher) -> None:
    tokenizer = tiny_teacher._fast_tokenizer
    vocab = tokenizer.get_vocab_size()
    p = token_probabilities(tokenizer, ["the", "guitar", "guitars"], vocab)
    the, guitar = tokenizer.token_to_id("the"), tokenizer.token_to_id("guitar")
    assert p.sum() == pytest.approx(1.0)
    assert p[the] > p[guitar] > 0  # 1/1 for "the"; "guitar" gets 1/2 and whatever "guitars" shares with it
    assert p[tokenizer.token_to_id("market")] == 0


def test_token_vectors_are_the_tokens_own_outputs_and_pooled_the_models_pooling(tiny_teacher) -> None:
    ids = np.array([tiny_teacher.tokenizer.convert_tokens_to_ids(w) for w in ("guitar", "market", "the")])
    tokenizer = tiny_teacher.tokenizer
    sequences = torch.tensor([[tokenizer.cls_token_id, i, tokenizer.sep_token_id] for i in ids])
    with torch.inference_mode():
        hidden = tiny_teacher.transformer(
            input_ids=sequences, attention_mask=torch.ones_like(sequences)
        ).last_hidden_state
    token = token_vectors(tiny_teacher, ids, batch_size=2, vectors="token")
    pooled = token_vectors(tiny_teacher, ids, batch_size=2, vectors="pooled")
    np.testing.assert_allclose(token, hidden[:, 1].numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled, hidden.mean(dim=1).numpy(), atol=1e-5)  # MiniLM's mean pooling
    assert not np.allclose(token, pooled, atol=1e-3)


def test_token_vectors_need_a_torch_backend(minilm) -> None:
    onnx_like = SimpleNamespace(name="onnx", torch_model=lambda model: None)  # a graph has no torch model
    teacher = SimpleNamespace(
        tokenizer=minilm.tokenizer, backend=onnx_like, model=SimpleNamespace(token_type_ids=True), device="cpu"
    )
    with pytest.raises(EmbedlabError, match="use backend torch"):
        token_vectors(teacher, np.array([1000]), vectors="token")


def test_bad_settings_are_one_line_errors(tiny_teacher, tmp_path) -> None:
    with pytest.raises(EmbedlabError, match="vectors must be one of token, pooled"):
        distill(tiny_teacher, DistillConfig(dim=4, vectors="cls"))
    with pytest.raises(EmbedlabError, match="dim must be between"):
        distill(tiny_teacher, DistillConfig(dim=33))
    with pytest.raises(EmbedlabError, match="sif_coefficient"):
        distill(tiny_teacher, DistillConfig(dim=4, sif_coefficient=2.0))
    with pytest.raises(EmbedlabError, match="word-frequency list"):
        distill(tiny_teacher, DistillConfig(dim=4, word_frequencies=tmp_path / "missing.txt"))


def test_distill_cli_writes_a_loadable_model(tiny_teacher, tmp_path) -> None:
    teacher = tiny_teacher.save(tmp_path / "teacher")
    words = tmp_path / "words.txt"
    words.write_text("the 10\nguitar 3\nmarket 2\n")
    out = tmp_path / "static"
    result = CliRunner().invoke(
        app, ["distill", str(teacher), "--dim", "6", "--out", str(out), "--word-frequencies", str(words)]
    )
    assert result.exit_code == 0, result.output
    assert load_model(str(out)).encode(TEXTS).shape == (4, 6)
    bad = CliRunner().invoke(
        app, ["distill", str(teacher), "--out", str(tmp_path / "x"), "--word-frequencies", "nope.txt"]
    )
    assert bad.exit_code != 0 and "not found" in str(bad.exception)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abc guitar,.!", max_size=30), max_size=8), st.integers(1, 5))
def test_sub_word_encode_matches_a_plain_loop(tiny_static, texts, batch_size) -> None:
    got = tiny_static.encode(texts, batch_size=batch_size, normalize=False)
    for text, row in zip(texts, got):
        ids = [
            i for i in tiny_static._tokenizer.encode(text, add_special_tokens=False).ids if i != tiny_static._unknown_id
        ]
        expected = tiny_static._vectors[ids].mean(axis=0) if ids else np.zeros(tiny_static.dim)
        np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6)
