"""ColBERT models against the oracle: sentence-transformers' MultiVectorEncoder on tiny random BERTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab import EmbedlabError, InputTypeError, ModelLoadError, MultiVectorEncoder, load_model
from embedlab.embedder import MultiVectorEmbedder, representation
from embedlab.models.multi_vector_tokens import QueryTooLongError
from embedlab.similarity import maxsim
from tests.tiny_colbert import DIM, EXPANSION, save_st_colbert

QUERIES = ["What is a cat?", "hello", "a b c", "Why do birds, fish and dogs sleep?"]
DOCUMENTS = [
    "Cats, dogs; and birds!",
    "x",
    "",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Résumé: naïve café (über) — 42% [sic].",
]
TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=[(False, "fixed"), (True, "fixed"), (False, "min")],
                ids=["classic", "attend", "min"])
def st_dir(request, tmp_path_factory, tokenizer):
    attend, strategy = request.param
    return save_st_colbert(tmp_path_factory.mktemp("st") / "colbert", tokenizer, attend=attend, strategy=strategy)


@pytest.fixture(scope="module")
def oracle(st_dir):
    from sentence_transformers import MultiVectorEncoder as STMultiVectorEncoder

    return STMultiVectorEncoder(str(st_dir), device="cpu")


def worst_diff(ours: list[np.ndarray], theirs: list) -> float:
    assert [len(a) for a in ours] == [len(b) for b in theirs], "token counts differ"
    return max(float(np.abs(a - b.cpu().numpy()).max()) for a, b in zip(ours, theirs))


def test_token_vectors_match_sentence_transformers(st_dir, oracle):
    model = MultiVectorEncoder.load(st_dir, device="cpu")
    assert worst_diff(model.encode_queries(QUERIES), oracle.encode_query(QUERIES)) <= TOLERANCE
    assert worst_diff(model.encode_documents(DOCUMENTS), oracle.encode_document(DOCUMENTS)) <= TOLERANCE
    # Batch size (and so the padding a text gets) changes nothing.
    assert worst_diff(model.encode_documents(DOCUMENTS, batch_size=1), oracle.encode_document(DOCUMENTS)) <= TOLERANCE


def test_saved_directory_loads_in_sentence_transformers(st_dir, oracle, tmp_path):
    from sentence_transformers import MultiVectorEncoder as STMultiVectorEncoder

    model = MultiVectorEncoder.load(st_dir, device="cpu")
    saved = STMultiVectorEncoder(str(model.save(tmp_path / "ours")), device="cpu")
    assert worst_diff(model.encode_queries(QUERIES), saved.encode_query(QUERIES)) <= TOLERANCE
    assert worst_diff(model.encode_documents(DOCUMENTS), saved.encode_document(DOCUMENTS)) <= TOLERANCE
    again = load_model(tmp_path / "ours", device="cpu")
    assert isinstance(again, MultiVectorEncoder) and again.settings == model.settings
    assert worst_diff(again.encode_documents(DOCUMENTS), saved.encode_document(DOCUMENTS)) <= TOLERANCE


def test_rows_are_unit_vectors_named_by_tokens(st_dir):
    model = load_model(st_dir, device="cpu")
    assert isinstance(model, MultiVectorEmbedder) and representation(model) == "multi_vector"
    query = model.encode_queries("What is a cat?")
    assert query.shape == (EXPANSION, DIM) and np.allclose(np.linalg.norm(query, axis=1), 1, atol=1e-5)
    tokens = model.query_tokens("What is a cat?")
    assert tokens[:2] == ["[CLS]", "[Q]"] and tokens[-1] == "[MASK]" and len(tokens) == EXPANSION
    document = model.document_tokens("Cats, dogs; and birds!")
    assert document == ["[CLS]", "[D]", "cats", "dogs", "and", "birds", "[SEP]"]  # punctuation skipped
    assert len(model.encode_documents(["Cats, dogs; and birds!"])[0]) == len(document)


def test_maxsim_ranks_with_the_oracle(st_dir, oracle):
    model = MultiVectorEncoder.load(st_dir, device="cpu")
    queries, documents = model.encode_queries(QUERIES), model.encode_documents(DOCUMENTS)
    ours = np.array([[maxsim(q, d) for d in documents] for q in queries])
    theirs = oracle.similarity(oracle.encode_query(QUERIES), oracle.encode_document(DOCUMENTS)).numpy()
    assert np.abs(ours - theirs).max() <= 1e-4


def test_from_dense_starts_a_colbert_model(tmp_path, tiny_encoder):
    tiny_encoder.save(tmp_path / "dense")
    first = MultiVectorEncoder.from_dense(tmp_path / "dense", dim=8, seed=1, device="cpu")
    second = MultiVectorEncoder.from_dense(tmp_path / "dense", dim=8, seed=1, device="cpu")
    assert torch.equal(first.projection.linear.weight, second.projection.linear.weight)  # seeded
    assert first.query_tokens("hi")[:2] == ["[CLS]", "[Q]"] and first.document_tokens("hi")[:2] == ["[CLS]", "[D]"]
    assert first.encode_queries(["hi"])[0].shape == (32, 8)
    from sentence_transformers import MultiVectorEncoder as STMultiVectorEncoder

    oracle = STMultiVectorEncoder(str(first.save(tmp_path / "colbert")), device="cpu")
    assert worst_diff(first.encode_queries(QUERIES), oracle.encode_query(QUERIES)) <= TOLERANCE
    assert worst_diff(first.encode_documents(DOCUMENTS), oracle.encode_document(DOCUMENTS)) <= TOLERANCE


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda m: m.encode_queries(["word " * 40]), QueryTooLongError, "query budget of 12 tokens"),
    (lambda m: m.encode_queries(None), InputTypeError, "None"),
    (lambda m: m.encode_documents(["ok", 3]), InputTypeError, "texts[1] is int"),
    (lambda m: m.encode_documents(["ok"], batch_size=0), EmbedlabError, "batch_size"),
    (lambda m: maxsim(m.encode_queries("a"), np.zeros((0, DIM), np.float32)), EmbedlabError, "at least one token"),
])
def test_bad_input_is_one_line(st_dir, call, error, message):
    model = MultiVectorEncoder.load(st_dir, device="cpu")
    if model.settings.expansion_strategy == "min" and error is QueryTooLongError:
        pytest.skip("the min strategy pads short queries and keeps long ones whole")
    with pytest.raises(error, match=message.replace("[", r"\[")) as caught:
        call(model)
    assert "\n" not in str(caught.value)


def test_empty_lists_and_long_queries_by_choice(st_dir):
    model = MultiVectorEncoder.load(st_dir, device="cpu")
    assert model.encode_queries([]) == [] and model.encode_documents([]) == []
    assert len(model.encode_queries(["word " * 40], truncate=True)[0]) >= EXPANSION


def test_directories_that_are_not_colbert_fail_clearly(st_dir, tmp_path):
    (tmp_path / "bad").mkdir()
    for name in ("config_sentence_transformers.json", "modules.json"):
        (tmp_path / "bad" / name).write_text((st_dir / name).read_text())
    (tmp_path / "bad" / "modules.json").write_text('[{"type": "x.Transformer"}, {"type": "x.Pooling"}]')
    with pytest.raises(ModelLoadError, match="embedlab reads Transformer, Dense"):
        load_model(tmp_path / "bad")
    with pytest.raises(ModelLoadError, match="multi-vector"):
        load_model(st_dir, backend="onnx")
