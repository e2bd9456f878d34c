"""The Encoder on the bundled all-MiniLM-L6-v2: parity with sentence-transformers, inputs, options, saving."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedlab import EmbedlabError, Encoder, InputTypeError, ModelLoadError
from tests.conftest import real_data

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "market",
    "stock",
    "sun",
    "rain",
    "code",
    "python",
    "moon",
    "earth",
    "neural",
    "learning",
    "food",
    "eat",
    "run",
    "fast",
]


def varied_texts(n: int = 200, seed: int = 0) -> list[str]:
    """Short, long, truncated, unicode, whitespace-only and empty texts, reproducibly."""
    rng = random.Random(seed)
    fixed = ["", " ", "  padded with spaces  ", "Ünïcödé café naïve", "日本語のテキスト", "Привет, мир!", "emoji 🙂🚀",
             "x" * 3000, " ".join(["word"] * 600), "A.", "?!", "tab\tand\nnewline"]
    texts = list(fixed)
    while len(texts) < n:
        length = rng.choice([1, 3, 8, 20, 60, 300])
        texts.append(" ".join(rng.choice(WORDS) for _ in range(length)).capitalize() + ".")
    return texts[:n]


def parity_texts() -> list[str]:
    texts = varied_texts(120)
    try:
        sts = real_data("sts", "stsb", "test.jsonl")
        scifact = real_data("beir", "scifact", "corpus.jsonl")
    except pytest.skip.Exception:
        return varied_texts(200)
    rows = [json.loads(line) for line in sts.read_text().splitlines()[:50]]
    docs = [json.loads(line) for line in scifact.read_text().splitlines()[:30]]
    return texts + [r["sentence1"] for r in rows] + [d["title"] + " " + d["text"] for d in docs]


def test_parity_with_sentence_transformers(minilm, st_minilm):
    texts = parity_texts()
    assert len(texts) == 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = minilm.encode(texts, batch_size=16)
    theirs = st_minilm.encode(texts, batch_size=16, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (200, 384)
    assert np.abs(ours - theirs).max() <= 1e-5


def test_order_is_restored_and_batching_changes_nothing(minilm):
    texts = ["short", "a much longer sentence about cats and dogs and markets", "", "mid length text here"]
    batched = minilm.encode(texts, batch_size=3)
    alone = np.stack([minilm.encode(t) for t in texts])
    assert np.abs(batched - alone).max() < 1e-5


def test_shapes_for_empty_and_single_inputs(minilm):
    assert minilm.encode([]).shape == (0, 384)
    assert minilm.encode("hello").shape == (384,)
    assert minilm.encode(("a", "b")).shape == (2, 384)


def test_empty_string_gives_a_finite_unit_vector(minilm):
    vector = minilm.encode("")
    assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5


@pytest.mark.parametrize(("texts", "index"), [(["ok", 3], "texts\\[1\\]"), (["a", "b", None], "texts\\[2\\]")])
def test_non_string_items_name_their_index(minilm, texts, index):
    with pytest.raises(TypeError, match=index):
        minilm.encode(texts)


@pytest.mark.parametrize("bad", [None, 42, b"bytes"])
def test_non_text_inputs_are_type_errors(minilm, bad):
    with pytest.raises(InputTypeError):
        minilm.encode(bad)


def test_truncation_warns_once_with_the_count(minilm):
    with pytest.warns(UserWarning) as caught:
        minilm.encode(["short", "long " * 400, "longer " * 500])
    messages = [str(w.message) for w in caught if "truncated" in str(w.message)]
    assert messages == ["2 of 3 texts are longer than max_seq_length=256 tokens and were truncated"]


def test_no_warning_without_truncation(minilm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minilm.encode(["short", "also short"])


def test_prompt_is_a_prefix(minilm):
    assert np.allclose(minilm.encode("cats", prompt="query: "), minilm.encode("query: cats"), atol=1e-6)
    assert not np.allclose(minilm.encode("cats", prompt="query: "), minilm.encode("cats"), atol=1e-3)


def test_unknown_prompt_name_and_double_prompt_fail(minilm):
    with pytest.raises(EmbedlabError, match="no prompt named 'query'"):
        minilm.encode("x", prompt_name="query")
    with pytest.raises(EmbedlabError, match="not both"):
        minilm.encode("x", prompt="a", prompt_name="b")


def test_matryoshka_dim_truncates_then_renormalises(minilm):
    texts = ["one sentence", "another one"]
    full = minilm.encode(texts, normalize=False)
    short = minilm.encode(texts, dim=64)
    expected = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    assert short.shape == (2, 64)
    assert np.allclose(short, expected, atol=1e-6)


@pytest.mark.parametrize("options", [{"dim": 0}, {"dim": 385}, {"batch_size": 0}, {"convert_to": "list"}])
def test_bad_options_fail_clearly(minilm, options):
    with pytest.raises(EmbedlabError):
        minilm.encode(["x"], **options)


def test_convert_to_torch(minilm):
    tensor = minilm.encode(["a", "b"], convert_to="torch")
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (2, 384) and tensor.dtype == torch.float32


def test_normalize_false_keeps_raw_lengths(minilm):
    assert np.linalg.norm(minilm.encode("some text", normalize=False)) > 1.5


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=80), max_size=6))
def test_any_unicode_text_list_gives_finite_unit_vectors(minilm, texts):
    vectors = minilm.encode(texts, batch_size=4)
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_info_describes_the_model(minilm):
    info = minilm.info()
    assert (info["dim"], info["max_seq_length"], info["pooling"]) == (384, 256, "mean")
    assert info["parameters"] == 22_713_216


# ---- saving and loading ----------------------------------------------------------------------


def test_save_loads_in_sentence_transformers_with_same_embeddings(minilm, tmp_path):
    from sentence_transformers import SentenceTransformer

    texts = varied_texts(30)
    minilm.save(tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert not list((tmp_path / "model").glob("*.bin"))
    theirs = SentenceTransformer(str(tmp_path / "model"), device="cpu").encode(texts)
    reloaded = Encoder.load(tmp_path / "model").encode(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = minilm.encode(texts)
    assert np.abs(ours - theirs).max() <= 1e-5
    assert np.abs(ours - reloaded).max() <= 1e-6


def test_prompts_round_trip_and_sentence_transformers_honours_them(tmp_path, minilm_path):
    from sentence_transformers import SentenceTransformer

    encoder = Encoder.load(minilm_path)
    encoder.layout.prompts = {"query": "query: ", "document": "passage: "}
    encoder.save(tmp_path / "asym")
    loaded = Encoder.load(tmp_path / "asym")
    assert np.allclose(loaded.encode_queries("cats"), loaded.encode("query: cats"), atol=1e-6)
    assert np.allclose(loaded.encode_documents("cats"), loaded.encode("passage: cats"), atol=1e-6)
    theirs = SentenceTransformer(str(tmp_path / "asym"), device="cpu")
    assert np.abs(theirs.encode(["cats"], prompt_name="query") - loaded.encode_queries(["cats"])).max() <= 1e-5


def test_other_pooling_saves_as_sentence_transformers_pooling(tmp_path, minilm_path):
    from sentence_transformers import SentenceTransformer

    encoder = Encoder.load(minilm_path, pooling="cls")
    encoder.save(tmp_path / "cls")
    texts = ["first text", "a second, longer text to pad"]
    theirs = SentenceTransformer(str(tmp_path / "cls"), device="cpu").encode(texts)
    assert np.abs(encoder.encode(texts) - theirs).max() <= 1e-5
    assert not np.allclose(encoder.encode(texts), Encoder.load(minilm_path).encode(texts), atol=1e-3)


def test_learned_attention_pooling_round_trips(tmp_path, minilm_path):
    encoder = Encoder.load(minilm_path, pooling="attention")
    torch.manual_seed(0)
    encoder.pooling.query.data.normal_()
    encoder.save(tmp_path / "attn")
    loaded = Encoder.load(tmp_path / "attn")
    assert loaded.pooling.strategy == "attention"
    assert np.allclose(loaded.encode(["a text"]), encoder.encode(["a text"]), atol=1e-6)


@pytest.fixture(scope="module")
def plain_hf_dir(tmp_path_factory, minilm):
    """all-MiniLM-L6-v2's transformer saved the Hugging Face way: no modules.json, no pooling config."""
    directory = tmp_path_factory.mktemp("plain")
    minilm.transformer.save_pretrained(directory)
    minilm.tokenizer.save_pretrained(directory)
    return directory


def test_plain_hugging_face_dir_with_mean_pooling_matches(plain_hf_dir, minilm):
    plain = Encoder.load(plain_hf_dir, pooling="mean", max_seq_length=256)
    texts = ["mean pooling over a plain encoder", "short"]
    assert np.abs(plain.encode(texts) - minilm.encode(texts)).max() <= 1e-5


def test_cls_attention_pooling_on_a_plain_dir(plain_hf_dir):
    encoder = Encoder.load(plain_hf_dir, pooling="cls_attention")
    mean = Encoder.load(plain_hf_dir, pooling="mean")
    texts = ["the cat sat on the mat", "stock markets fell", ""]
    vectors = encoder.encode(texts)
    assert np.isfinite(vectors).all() and vectors.shape == (3, 384)
    assert not np.allclose(vectors, mean.encode(texts), atol=1e-3)
    alone = np.stack([encoder.encode(t) for t in texts])
    assert np.abs(vectors - alone).max() < 1e-5


def test_pickle_weights_are_refused_unless_allowed(tmp_path, minilm):
    directory = tmp_path / "pickled"
    minilm.transformer.config.save_pretrained(directory)
    minilm.tokenizer.save_pretrained(directory)
    torch.save(minilm.transformer.state_dict(), directory / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        Encoder.load(directory)
    allowed = Encoder.load(directory, allow_pickle=True, max_seq_length=256)
    assert np.abs(allowed.encode(["pickle ok"]) - minilm.encode(["pickle ok"])).max() <= 1e-5


def test_corrupt_weights_fail_clearly(tmp_path, plain_hf_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(plain_hf_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError):
        Encoder.load(broken)


@pytest.mark.parametrize(
    ("name", "message"),
    [("./no/such/model", "no model directory"), ("some-org/no-such-model", "could not be fetched")],
)
def test_missing_models_fail_clearly(name, message):
    with pytest.raises(ModelLoadError, match=message):
        Encoder.load(name)


def test_malformed_modules_json_fails_clearly(tmp_path, plain_hf_dir):
    import shutil

    broken = tmp_path / "st"
    shutil.copytree(plain_hf_dir, broken)
    (broken / "modules.json").write_text('[{"type": "sentence_transformers.models.Dense", "path": "2_Dense"}]')
    with pytest.raises(ModelLoadError, match="must start with a Transformer"):
        Encoder.load(broken)
    (broken / "modules.json").write_text('[{"type": "sentence_transformers.models.CNN", "path": "1_CNN"}]')
    with pytest.raises(ModelLoadError, match="'sentence_transformers.models.CNN' .* is not supported"):
        Encoder.load(broken)
    (broken / "modules.json").write_text("[{oops")
    with pytest.raises(ModelLoadError, match="malformed JSON"):
        Encoder.load(broken)


def test_save_never_overwrites_unrelated_files(minilm, tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(EmbedlabError, match="refusing"):
        minilm.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_save_replaces_an_earlier_save(minilm, tmp_path):
    target = tmp_path / "model"
    minilm.save(target)
    minilm.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert Encoder.load(target).dim == 384
