"""SparseEncoder (SPLADE) against sentence-transformers' SparseEncoder on tiny random models, both directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from embedlab import EmbedlabError, ModelLoadError, SparseEncoder, load_model
from embedlab.embedder import SparseEmbedder, representation
from embedlab.models.mlm_head import HEAD_FROM_DENSE, START_COSINE
from embedlab.models.splade_ops import keep_top_k
from tests.tiny_models import make_tiny_encoder
from tests.tiny_sparse import save_st_sparse

sentence_transformers = pytest.importorskip("sentence_transformers")

TEXTS = ["a cat sat on the mat", "Sparse retrieval with learned term weights, max-pooled over tokens.", "x",
         "the quick brown fox jumps over the lazy dog " * 6,
         # Past the position table (64): the transformer side truncates, the look-up side reads it all.
         " ".join(f"term{i}" for i in range(80))]  # fmt: skip
TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "inference-free"])
def st_dir(request, tmp_path_factory, tokenizer):
    return save_st_sparse(tmp_path_factory.mktemp("sparse") / "model", tokenizer, inference_free=request.param)


def st_vectors(directory, side: str, **options) -> np.ndarray:
    oracle = sentence_transformers.SparseEncoder(str(directory), device="cpu")
    encode = oracle.encode_query if side == "query" else oracle.encode_document
    return encode(TEXTS, convert_to_tensor=True, **options).to_dense().numpy()


def ours(model: SparseEncoder, side: str, **options) -> np.ndarray:
    encode = model.encode_queries if side == "query" else model.encode_documents
    rows = encode(TEXTS, batch_size=3, **options)
    assert isinstance(rows, sparse.csr_matrix) and rows.dtype == np.float32
    return rows.toarray()


@pytest.mark.parametrize("side", ["query", "document"])
def test_vectors_match_sentence_transformers(st_dir, side):
    model = load_model(st_dir)
    assert isinstance(model, SparseEncoder) and isinstance(model, SparseEmbedder)
    assert np.abs(ours(model, side) - st_vectors(st_dir, side)).max() <= TOLERANCE


@pytest.mark.parametrize("side", ["query", "document"])
def test_top_k_pruning_matches_max_active_dims(st_dir, side):
    model = SparseEncoder.load(st_dir, max_active_dims=9)
    pruned = ours(model, side)
    assert ((pruned != 0).sum(axis=1) <= 9).all()
    assert np.abs(pruned - st_vectors(st_dir, side, max_active_dims=9)).max() <= TOLERANCE


@pytest.mark.parametrize("side", ["query", "document"])
def test_what_embedlab_saves_sentence_transformers_loads(st_dir, side, tmp_path):
    model = SparseEncoder.load(st_dir)
    saved = model.save(tmp_path / "ours")
    assert np.abs(st_vectors(saved, side) - ours(model, side)).max() <= TOLERANCE
    again = load_model(saved)
    assert again.layout.static_route == model.layout.static_route
    assert np.abs(ours(again, side) - ours(model, side)).max() == 0


def test_the_inference_free_side_only_looks_terms_up(tmp_path, tokenizer):
    model = SparseEncoder.load(save_st_sparse(tmp_path / "m", tokenizer, inference_free=True))
    query = model.encode_queries(["cat cat dog"])
    ids = tokenizer(["cat cat dog"], add_special_tokens=False)["input_ids"][0]
    assert sorted(query.indices.tolist()) == sorted(set(ids))
    assert model.info()["inference_free"] == "query"


def test_max_active_dims_is_read_from_the_directory(tmp_path, tokenizer):
    model = SparseEncoder.load(save_st_sparse(tmp_path / "m", tokenizer, max_active_dims=5))
    assert model.max_active_dims == 5 and (model.encode_documents(TEXTS).getnnz(axis=1) <= 5).all()


def test_terms_are_the_rows_weights_heaviest_first(st_dir):
    model = SparseEncoder.load(st_dir)
    row = model.encode_documents(["a cat sat on the mat"])
    terms = model.terms(row[0], top_k=5)
    weights = [w for _, w in terms]
    assert len(terms) == 5 and weights == sorted(weights, reverse=True)
    assert weights[0] == pytest.approx(row.max())
    token_id = model.tokenizer.convert_tokens_to_ids(terms[0][0])
    assert row[0, token_id] == pytest.approx(weights[0])
    assert len(model.terms(row[0])) == row.nnz


def test_a_model_without_an_mlm_head_is_refused_in_one_line(tmp_path, tokenizer):
    dense = make_tiny_encoder(tokenizer).save(tmp_path / "dense")
    with pytest.raises(ModelLoadError, match=r"has no MLM head; SparseEncoder.from_dense\(") as err:
        SparseEncoder.load(dense)
    assert "\n" not in str(err.value)


def test_from_dense_ties_the_decoder_to_the_input_embeddings(tmp_path, tokenizer):
    dense = make_tiny_encoder(tokenizer).save(tmp_path / "dense")
    model = SparseEncoder.from_dense(dense)
    decoder, embeddings = model.mlm.get_output_embeddings(), model.mlm.get_input_embeddings()
    assert decoder.weight is embeddings.weight
    # The bias sets each term's activation threshold at the same cosine with the final token state.
    scale = decoder.weight.norm(dim=1) * model.mlm.config.hidden_size**0.5
    assert torch.allclose(decoder.bias, -START_COSINE * scale) and decoder.bias.max() <= 0
    transform = model.mlm.cls.predictions.transform.dense
    assert torch.equal(transform.weight, torch.eye(transform.in_features)) and not transform.bias.any()
    assert model.info()["mlm_head"] == HEAD_FROM_DENSE
    assert np.abs(model.encode_documents(TEXTS).toarray()
                  - SparseEncoder.from_dense(dense).encode_documents(TEXTS).toarray()).max() == 0
    saved = model.save(tmp_path / "sparse")
    again = load_model(saved)
    assert again.info()["mlm_head"] == HEAD_FROM_DENSE
    assert np.abs(again.encode_queries(TEXTS).toarray() - model.encode_queries(TEXTS).toarray()).max() <= TOLERANCE


def test_from_dense_can_make_a_side_inference_free(tmp_path, tokenizer):
    dense = make_tiny_encoder(tokenizer).save(tmp_path / "dense")
    model = SparseEncoder.from_dense(dense, inference_free="document")
    saved = model.save(tmp_path / "sparse")
    oracle = sentence_transformers.SparseEncoder(str(saved), device="cpu")
    theirs = oracle.encode_document(TEXTS, convert_to_tensor=True).to_dense().numpy()
    assert np.abs(theirs - model.encode_documents(TEXTS).toarray()).max() <= TOLERANCE


@pytest.mark.parametrize(
    ("texts", "message"),
    [([], "no texts"), (None, "None"), (["ok", 3], r"texts\[1\] is int"), (b"x", "bytes")],
)
def test_bad_texts_are_one_line_errors(st_dir, texts, message):
    model = SparseEncoder.load(st_dir)
    with pytest.raises(EmbedlabError, match=message):
        model.encode_documents(texts)


def test_bad_options_are_one_line_errors(st_dir):
    model = SparseEncoder.load(st_dir)
    for options in ({"batch_size": 0}, {"max_active_dims": 0}, {"max_active_dims": True}):
        with pytest.raises(EmbedlabError, match="positive integer"):
            model.encode_queries(["a"], **options)
    with pytest.raises(EmbedlabError, match="one row"):
        model.terms(np.ones((2, model.vocab_size)))


def test_representation_tells_sparse_from_dense(st_dir, tiny_encoder):
    assert representation(load_model(st_dir)) == "sparse" and representation(tiny_encoder) == "dense"


@given(st.lists(st.lists(st.floats(0, 100, width=32), min_size=6, max_size=6), min_size=1, max_size=4),
       st.integers(1, 8))  # fmt: skip
def test_keep_top_k_keeps_the_k_largest(rows, k):
    weights = torch.tensor(rows)
    kept = keep_top_k(weights, k)
    assert ((kept != 0).sum(dim=1) <= k).all()
    for original, pruned in zip(weights, kept):
        survivors = pruned[pruned != 0]
        dropped = original[(pruned == 0) & (original != 0)]
        assert set(survivors.tolist()) <= set(original.tolist())
        if len(dropped) and len(survivors):
            assert dropped.max() <= survivors.min()


def test_from_dense_starts_from_the_texts_own_words(minilm_path):
    """The identity transform makes MiniLM's first SPLADE terms lexical: the text's words lead before any training."""
    model = SparseEncoder.from_dense(minilm_path)
    text = "The aircraft wing boundary layer becomes turbulent at high Reynolds numbers."
    leading = {term for term, _ in model.terms(model.encode_documents([text])[0], top_k=15)}
    assert {"wing", "boundary", "layer", "reynolds", "turbulent"} <= leading
