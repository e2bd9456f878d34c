"""StaticEncoder: hand-checked means, SIF weights, edge inputs and file errors, plus the real GloVe file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError, InputTypeError, ModelLoadError
from embedlab.models.loading import GLOVE_FILE
from embedlab.models.static_encoder import StaticEncoder, tokenize, zipf_sif_weights
from embedlab.similarity import cosine_similarity
from tests.conftest import real_data

WORDS = ["the", "cat", "dog"]
VECTORS = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, -1.0]], dtype=np.float32)


def write_glove(path: Path, lines: list[str]) -> Path:
    text = "".join(line + "\n" for line in lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def tiny_lines() -> list[str]:
    return [" ".join([w, *(repr(float(x)) for x in v)]) for w, v in zip(WORDS, VECTORS)]


@pytest.fixture(params=["tiny.txt", "tiny.txt.gz"])
def tiny_path(request, tmp_path: Path) -> Path:
    return write_glove(tmp_path / request.param, tiny_lines())


@pytest.fixture
def tiny() -> StaticEncoder:
    return StaticEncoder(WORDS, VECTORS)


def test_load_gives_hand_computed_mean(tiny_path: Path) -> None:
    enc = StaticEncoder.load(tiny_path)
    got = enc.encode("The cat!", normalize=False)
    np.testing.assert_allclose(got, (VECTORS[0] + VECTORS[1]) / 2)
    unit = enc.encode("The cat!")
    np.testing.assert_allclose(unit, got / np.linalg.norm(got), rtol=1e-6)
    assert enc.info() == {"name": "tiny", "kind": "static", "dim": 4, "vocab_size": 3, "sif": False, "pooling": "mean"}


def test_repeated_tokens_count_each_time_and_oov_is_skipped(tiny: StaticEncoder) -> None:
    got = tiny.encode(["cat cat dog", "cat zebra"], normalize=False)
    np.testing.assert_allclose(got[0], (2 * VECTORS[1] + VECTORS[2]) / 3)
    np.testing.assert_allclose(got[1], VECTORS[1])


@pytest.mark.parametrize("normalize", [True, False])
def test_all_oov_and_empty_texts_are_zero_not_nan(tiny: StaticEncoder, normalize: bool) -> None:
    got = tiny.encode(["zebra giraffe", "", "?!, ...", "cat"], normalize=normalize)
    assert not np.isnan(got).any()
    np.testing.assert_array_equal(got[:3], 0.0)
    assert np.linalg.norm(got[3]) > 0


def test_shapes_dtype_and_conversion(tiny: StaticEncoder) -> None:
    assert tiny.encode("cat").shape == (4,)
    assert tiny.encode(["cat", "dog"]).shape == (2, 4)
    assert tiny.encode([]).shape == (0, 4)
    assert tiny.encode([], dim=2).shape == (0, 2)
    assert tiny.encode(["cat"]).dtype == np.float32
    as_torch = tiny.encode(["the cat", "dog"], convert_to="torch")
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float32
    np.testing.assert_array_equal(as_torch.numpy(), tiny.encode(["the cat", "dog"]))
    assert tiny.dim == 4 and tiny.name == "static" and tiny.max_seq_length is None


def test_dim_truncates_then_renormalises(tiny: StaticEncoder) -> None:
    full = tiny.encode("the dog", normalize=False)
    got = tiny.encode("the dog", dim=3)
    np.testing.assert_allclose(got, full[:3] / np.linalg.norm(full[:3]), rtol=1e-6)
    np.testing.assert_allclose(tiny.encode("the dog", dim=3, normalize=False), full[:3])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"dim": 5},
        {"dim": 2.0},
        {"dim": True},
        {"convert_to": "pandas"},
        {"prompt_name": "query"},
        {"batch_size": 0},
    ],
)
def test_bad_options_raise(tiny: StaticEncoder, kwargs: dict) -> None:
    with pytest.raises(EmbedlabError):
        tiny.encode(["cat"], **kwargs)


def test_bad_text_types_raise(tiny: StaticEncoder) -> None:
    with pytest.raises(InputTypeError, match=r"texts\[1\]"):
        tiny.encode(["cat", None])


def test_prompt_is_prepended(tiny: StaticEncoder) -> None:
    np.testing.assert_array_equal(tiny.encode("cat", prompt="the "), tiny.encode("the cat"))


def test_tokenizer_lowercases_keeps_clitics_and_drops_punctuation() -> None:
    assert tokenize("Hello, World! Don't STOP-now 42.") == ["hello", "world", "don't", "stop", "now", "42"]


def test_unknown_clitics_split_like_glove() -> None:
    enc = StaticEncoder(["do", "n't", "cat", "'s"], np.eye(4, dtype=np.float32))
    np.testing.assert_allclose(enc.encode("Don't", normalize=False), [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(enc.encode("cat's", normalize=False), [0, 0, 0.5, 0.5])
    whole = StaticEncoder(["don't", "do", "n't"], np.eye(3, dtype=np.float32))
    np.testing.assert_allclose(whole.encode("don't", normalize=False), [1, 0, 0])


def test_sif_weights_match_hand_computation(tiny_path: Path) -> None:
    a = 0.5
    p = np.array([1, 1 / 2, 1 / 3]) / (1 + 1 / 2 + 1 / 3)
    w = a / (a + p)
    np.testing.assert_allclose(zipf_sif_weights(3, a), w, rtol=1e-6)
    enc = StaticEncoder.load(tiny_path, sif=True, sif_a=a)
    assert enc.info()["sif"] is True
    got = enc.encode("the cat", normalize=False)
    np.testing.assert_allclose(got, (w[0] * VECTORS[0] + w[1] * VECTORS[1]) / 2, rtol=1e-6)
    plain = StaticEncoder.load(tiny_path).encode("the cat")
    assert not np.allclose(enc.encode("the cat"), plain, atol=1e-3)  # the frequent "the" counts for less


def test_sif_weights_rise_with_rank() -> None:
    w = zipf_sif_weights(1000)
    assert np.all(np.diff(w) > 0) and w[0] > 0 and w[-1] < 1


def test_max_words_keeps_the_most_frequent(tiny_path: Path) -> None:
    enc = StaticEncoder.load(tiny_path, max_words=2)
    assert enc.info()["vocab_size"] == 2
    np.testing.assert_array_equal(enc.encode("dog"), 0.0)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], "empty"),
        (["", ""], "empty"),
        (["the 1 2", "cat 3 4", "dog 5"], "line 3"),
        (["the 1 2", "cat 3 x"], "line 2"),
        (["the 1 2", "", "cat 3 nan"], "line 3"),
        (["the"], "line 1"),
        (["the 1 2", "cat 1 2 3"], "line 2"),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, lines: list[str], match: str) -> None:
    path = write_glove(tmp_path / "bad.txt", lines)
    with pytest.raises(ModelLoadError, match=match) as info:
        StaticEncoder.load(path)
    assert "\n" not in str(info.value)


def test_unreadable_files_raise_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        StaticEncoder.load(tmp_path / "missing.txt")
    fake_gz = tmp_path / "fake.txt.gz"
    fake_gz.write_text("the 1 2\n")
    with pytest.raises(ModelLoadError):
        StaticEncoder.load(fake_gz)
    with pytest.raises(ModelLoadError):
        StaticEncoder(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ModelLoadError):
        StaticEncoder(["a"], np.zeros((1, 2)), weights=np.ones(2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS + ["zebra", "THE", "Cat."]), max_size=8), max_size=6), st.integers(1, 4))
def test_encode_matches_numpy_mean_for_any_text(token_lists: list[list[str]], batch_size: int) -> None:
    enc = StaticEncoder(WORDS, VECTORS)
    texts = [" ".join(tokens) for tokens in token_lists]
    raw = enc.encode(texts, normalize=False, batch_size=batch_size)
    unit = enc.encode(texts, batch_size=batch_size)
    for row, tokens in enumerate(token_lists):
        known = [WORDS.index(t.lower().strip(".")) for t in tokens if t.lower().strip(".") in WORDS]
        expected = VECTORS[known].mean(axis=0) if known else np.zeros(4)
        np.testing.assert_allclose(raw[row], expected, rtol=1e-6, atol=1e-7)
    norms = np.linalg.norm(unit, axis=1)
    assert not np.isnan(unit).any()
    assert np.all(np.isclose(norms, 1.0, atol=1e-6) | (norms == 0))


@pytest.fixture(scope="module")
def glove() -> StaticEncoder:
    return StaticEncoder.load(real_data(*GLOVE_FILE))


def test_real_glove_loads_whole_vocabulary(glove: StaticEncoder) -> None:
    assert glove.info()["vocab_size"] == 100_000 and glove.dim == 50


def test_real_glove_ranks_related_words_higher(glove: StaticEncoder) -> None:
    cat, dog, market = glove.encode(["cat", "dog", "stock market"])
    assert cosine_similarity(cat, dog) > cosine_similarity(cat, market) + 0.3


def test_real_glove_sentences_and_sif(glove: StaticEncoder) -> None:
    sif = StaticEncoder.load(real_data(*GLOVE_FILE), sif=True)
    for enc in (glove, sif):
        a, b, c = enc.encode(["The cat sat on the mat.", "A kitten sat on a rug.", "Shares fell on Wall Street."])
        assert cosine_similarity(a, b) > cosine_similarity(a, c)
