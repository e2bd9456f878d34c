"""Oracle parity per architecture family: a directory sentence-transformers saved gives the same vectors in
embedlab and in sentence-transformers, and the directories embedlab saves round-trip both ways.

The models are tiny and random (tests/model_families.py); random weights differ far more between texts than
trained ones do, so a wrong pooling, padding side, prompt or module order cannot hide inside the tolerance.
Run with -rP to see the worst max |diff| per family.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import embedlab
from tests.model_families import FAMILIES, MAX_SEQ_LENGTH

sentence_transformers = pytest.importorskip("sentence_transformers")
pytestmark = pytest.mark.filterwarnings("ignore:.*truncated")  # one text is over-long on purpose

TOLERANCE = 1e-5  # fp32: the two libraries run the same transformer, batched and padded differently
TEXTS = [
    "",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé façade, naïve café — 東京の天気は晴れです 🙂🚀 Привет, мир!",
    "short",
    " ".join(["sentence embeddings map a text to a vector"] * 8),  # far past MAX_SEQ_LENGTH tokens
    "Question: how many legs does a spider have?",
    "👍",
    "北京是中国的首都。",
    "numbers 42 3.14159 2026-12-03",
]
BATCHES = {"batch_size": 4}  # several batches, each padded to a different width


@pytest.fixture(scope="session", params=sorted(FAMILIES))
def family(request, tmp_path_factory) -> tuple[str, Path]:
    """(name, directory) of one family's tiny model, as sentence-transformers saved it."""
    name = request.param
    return name, FAMILIES[name](tmp_path_factory.mktemp("families") / name)


@pytest.fixture(scope="session")
def oracle(family):
    return sentence_transformers.SentenceTransformer(str(family[1]), device="cpu")


@pytest.fixture(scope="session")
def ours(family):
    return embedlab.load_model(family[1], device="cpu")


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    assert np.isfinite(a).all() and np.isfinite(b).all()
    return float(np.abs(a - b).max())


def report(family: str, what: str, diff: float) -> None:
    print(f"{family:22s} {what:28s} max |diff| {diff:.2e}")


def module_kinds(directory: Path) -> list[str]:
    """The module classes of modules.json, without their package (which differs between versions)."""
    return [module["type"].rsplit(".", 1)[-1] for module in json.loads((directory / "modules.json").read_text())]


def test_fixture_is_what_the_family_uses(family, oracle):
    """The tiny model really runs past its length limit and gives distinct vectors, so parity means something."""
    assert oracle.max_seq_length == MAX_SEQ_LENGTH
    assert len(oracle.tokenizer(TEXTS[5])["input_ids"]) > MAX_SEQ_LENGTH
    for prompt in oracle.prompts.values():  # an instruction leaves room for the text after it
        assert len(oracle.tokenizer(prompt + TEXTS[2])["input_ids"]) <= MAX_SEQ_LENGTH
    assert len(oracle.tokenizer) <= oracle[0].model.get_input_embeddings().num_embeddings
    vectors = oracle.encode(TEXTS, **BATCHES)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ unit.T
    assert cosines[np.triu_indices(len(TEXTS), 1)].max() < 0.999, "texts get (nearly) the same vector"
    assert module_kinds(family[1])[0] == "Transformer"


def test_tokens_match_sentence_transformers(family, oracle, ours):
    """Each text, prompt included, becomes the same token ids (special tokens, truncation) in both libraries."""
    prompt = next(iter(oracle.prompts.values()), "")
    for text in [*TEXTS, prompt + TEXTS[2], prompt + TEXTS[5]]:
        expected = oracle.preprocess([text])["input_ids"][0].tolist()
        assert ours.tokenize([text])["input_ids"][0].tolist() == expected, text


def test_encode_matches_sentence_transformers(family, oracle, ours):
    name = family[0]
    expected = oracle.encode(TEXTS, **BATCHES)
    got = ours.encode(TEXTS, **BATCHES)
    diff = max_diff(got, expected)
    report(name, "encode", diff)
    assert diff <= TOLERANCE
    # One text alone (no padding at all) gives the same vector as in a batch.
    assert max_diff(ours.encode(TEXTS[3]), expected[3]) <= TOLERANCE


@settings(max_examples=6)
@given(texts=st.lists(st.text(max_size=80), min_size=1, max_size=6))
def test_any_texts_match_sentence_transformers(family, oracle, ours, texts):
    """Arbitrary unicode (control characters, combining marks, whitespace only) in mixed-length batches."""
    assert max_diff(ours.encode(texts, **BATCHES), oracle.encode(texts, **BATCHES)) <= TOLERANCE


def test_prompts_match_sentence_transformers(family, oracle, ours):
    """Every saved prompt, and the query / document prompts the two libraries pick by themselves."""
    name = family[0]
    assert ours.prompts == oracle.prompts
    worst = 0.0
    for prompt_name in oracle.prompts:
        expected = oracle.encode(TEXTS, prompt_name=prompt_name, **BATCHES)
        worst = max(worst, max_diff(ours.encode(TEXTS, prompt_name=prompt_name, **BATCHES), expected))
    queries = max_diff(ours.encode_queries(TEXTS, **BATCHES), oracle.encode_query(TEXTS, **BATCHES))
    documents = max_diff(ours.encode_documents(TEXTS, **BATCHES), oracle.encode_document(TEXTS, **BATCHES))
    report(name, "prompts, queries, documents", max(worst, queries, documents))
    assert max(worst, queries, documents) <= TOLERANCE


def test_embedlab_save_loads_in_sentence_transformers(family, oracle, ours, tmp_path):
    """What embedlab saves, sentence-transformers loads with the same modules, prompts and vectors."""
    name, directory = family
    saved = ours.save(tmp_path / "saved")
    assert module_kinds(saved) == module_kinds(directory)
    reloaded = sentence_transformers.SentenceTransformer(str(saved), device="cpu")
    assert reloaded.prompts == ours.prompts
    assert reloaded.max_seq_length == ours.max_seq_length
    assert reloaded.similarity_fn_name == oracle.similarity_fn_name
    assert reloaded.tokenizer.padding_side == oracle.tokenizer.padding_side  # left for decoder embedders
    diff = max(
        max_diff(reloaded.encode(TEXTS, **BATCHES), ours.encode(TEXTS, **BATCHES)),
        max_diff(reloaded.encode_query(TEXTS, **BATCHES), ours.encode_queries(TEXTS, **BATCHES)),
    )
    report(name, "embedlab save -> ST load", diff)
    assert diff <= TOLERANCE


def test_embedlab_round_trip_is_exact(family, ours, tmp_path):
    """Load, save, load, save, load: the same vectors bit for bit, and the same directory description."""
    name, directory = family
    first = embedlab.load_model(ours.save(tmp_path / "first"), device="cpu")
    second = embedlab.load_model(first.save(tmp_path / "second"), device="cpu")
    for model in (first, second):
        assert model.prompts == ours.prompts
        assert model.max_seq_length == ours.max_seq_length
        np.testing.assert_array_equal(model.encode(TEXTS, **BATCHES), ours.encode(TEXTS, **BATCHES))
        np.testing.assert_array_equal(model.encode_queries(TEXTS), ours.encode_queries(TEXTS))
    assert module_kinds(tmp_path / "second") == module_kinds(directory)
    report(name, "embedlab round trip", 0.0)


def test_concatenated_pooling_is_refused_in_one_line(tmp_path):
    """sentence-transformers can concatenate pooling modes (cls + mean); embedlab says it does not, in one line."""
    from sentence_transformers.sentence_transformer.modules import Pooling

    from embedlab.errors import ModelLoadError
    from tests.model_families import save_st, wordpiece_tokenizer
    from tests.tiny_models import tiny_bert

    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=True)
    directory = save_st(
        tmp_path / "concat", tiny_bert(len(tokenizer)), tokenizer, lambda dim: [Pooling(dim, ("cls", "mean"))]
    )
    with pytest.raises(ModelLoadError, match="pooling") as error:
        embedlab.load_model(directory, device="cpu")
    assert "\n" not in str(error.value)
