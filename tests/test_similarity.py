"""Similarity functions against brute force, exact chunked search, and cosine bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from embedlab.errors import EmbedlabError
from embedlab.similarity import (
    Hit,
    SimilarityBands,
    band,
    cosine_similarity,
    dot_similarity,
    euclidean_distance,
    pairwise_cosine,
    semantic_search,
    unit_rows,
)

FLOATS = st.floats(-10, 10, allow_nan=False, width=32)


DIMS = st.integers(1, 6)


def matrices(max_rows: int = 12, dims: st.SearchStrategy[int] = DIMS) -> st.SearchStrategy:
    return st.tuples(st.integers(1, max_rows), dims).flatmap(lambda s: arrays(np.float64, s, elements=FLOATS))


def test_scalar_results_for_two_vectors() -> None:
    assert cosine_similarity([1, 0], [0, 3]) == 0.0
    assert cosine_similarity([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [-1, 0]) == pytest.approx(-1.0)
    assert dot_similarity([1, 2], [3, 4]) == 11.0
    assert euclidean_distance([0, 0], [3, 4]) == pytest.approx(5.0)
    assert isinstance(cosine_similarity([1, 0], [0, 3]), float)


def test_zero_vectors_score_zero_not_nan() -> None:
    assert cosine_similarity([0, 0], [0, 0]) == 0.0
    m = cosine_similarity(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_array_equal(m, [[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(pairwise_cosine([[0.0, 0.0]], [[1.0, 2.0]]), [0.0])


@settings(max_examples=80, deadline=None)
@given(matrices())
def test_unit_rows_have_length_one_or_stay_zero(x: np.ndarray) -> None:
    x[0] = 0.0  # always one zero row
    lengths = np.linalg.norm(unit_rows(x), axis=1)
    nonzero = np.linalg.norm(x, axis=1) > 0
    np.testing.assert_allclose(lengths[nonzero], 1.0, rtol=1e-6)
    assert (lengths[~nonzero] == 0).all()
    assert unit_rows(x.astype(np.float32)).dtype == np.float32
    assert unit_rows(np.array([[3, 4]])).tolist() == [[0.6, 0.8]]


def test_shapes_and_mixed_ranks() -> None:
    a, b = np.ones((3, 4)), np.ones((5, 4))
    assert cosine_similarity(a, b).shape == (3, 5)
    assert cosine_similarity(a[0], b).shape == (5,)
    assert cosine_similarity(a, b[0]).shape == (3,)
    assert pairwise_cosine(a, a).shape == (3,)


def test_torch_inputs_match_numpy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(6, 8)).astype(np.float32)
    np.testing.assert_allclose(cosine_similarity(torch.from_numpy(a), torch.from_numpy(b)), cosine_similarity(a, b))
    hits = semantic_search(torch.from_numpy(a), torch.from_numpy(b), top_k=3)
    assert hits == semantic_search(a, b, top_k=3)


@pytest.mark.parametrize("fn", [cosine_similarity, dot_similarity, euclidean_distance, pairwise_cosine])
def test_mismatched_or_bad_shapes_raise(fn) -> None:
    with pytest.raises(EmbedlabError):
        fn(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(EmbedlabError):
        fn(np.ones((2, 2, 3)), np.ones((2, 3)))


def test_pairwise_cosine_needs_aligned_rows() -> None:
    with pytest.raises(EmbedlabError, match="rows must pair up"):
        pairwise_cosine(np.ones((2, 3)), np.ones((3, 3)))


@settings(max_examples=80, deadline=None)
@given(matrices())
def test_cosine_matrix_symmetric_bounded_and_brute_force(x: np.ndarray) -> None:
    m = cosine_similarity(x, x)
    assert np.all(np.abs(m) <= 1.0) and not np.isnan(m).any()
    np.testing.assert_allclose(m, m.T, atol=1e-6)
    norms = np.linalg.norm(x, axis=1)
    for i in range(len(x)):
        for j in range(len(x)):
            want = 0.0 if norms[i] == 0 or norms[j] == 0 else x[i] @ x[j] / (norms[i] * norms[j])
            assert m[i, j] == pytest.approx(want, abs=1e-6)
    np.testing.assert_allclose(pairwise_cosine(x, x[::-1]), np.diag(m[:, ::-1]), atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda d: st.tuples(matrices(dims=st.just(d)), matrices(dims=st.just(d)))))
def test_dot_and_euclidean_match_brute_force(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    np.testing.assert_allclose(dot_similarity(a, b), a @ b.T, rtol=1e-6, atol=1e-6)
    brute = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    np.testing.assert_allclose(euclidean_distance(a, b), brute, rtol=1e-5, atol=1e-4)
    assert np.all(euclidean_distance(a, a).diagonal() < 1e-3)


def brute_force(queries: np.ndarray, corpus: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    scores = queries @ corpus.T
    return [sorted(((j, float(s)) for j, s in enumerate(row)), key=lambda h: (-h[1], h[0]))[:k] for row in scores]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda d: st.tuples(
            arrays(np.float32, st.tuples(st.integers(1, 5), st.just(d)), elements=st.integers(-3, 3)),
            arrays(np.float32, st.tuples(st.integers(0, 40), st.just(d)), elements=st.integers(-3, 3)),
        )
    ),
    st.integers(1, 45),
    st.integers(1, 45),
)
def test_search_equals_brute_force_with_ties(data: tuple[np.ndarray, np.ndarray], top_k: int, chunk: int) -> None:
    # Small integers make dot scores exact, so ties are real ties and their order is checked exactly.
    queries, corpus = data
    got = semantic_search(queries, corpus, top_k=top_k, score="dot", chunk_size=chunk)
    assert [[tuple(h) for h in hits] for hits in got] == brute_force(queries, corpus, top_k)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 70))
def test_cosine_search_equals_argsort(seed: int, top_k: int, chunk: int) -> None:
    rng = np.random.default_rng(seed)
    queries, corpus = rng.normal(size=(3, 16)), rng.normal(size=(60, 16))
    got = semantic_search(queries, corpus, top_k=top_k, chunk_size=chunk)
    full = cosine_similarity(queries, corpus)
    for hits, row in zip(got, full):
        want = np.argsort(-row, kind="stable")[:top_k]
        assert [h.corpus_id for h in hits] == want.tolist()
        np.testing.assert_allclose([h.score for h in hits], row[want], rtol=1e-6)


def test_search_edge_cases() -> None:
    corpus = np.eye(3)
    hits = semantic_search(np.array([1.0, 0.5, 0.0]), corpus, top_k=10)
    assert len(hits) == 1 and [h.corpus_id for h in hits[0]] == [0, 1, 2]
    assert isinstance(hits[0][0], Hit) and isinstance(hits[0][0].score, float)
    assert semantic_search(np.ones((2, 3)), np.empty((0, 3))) == [[], []]
    assert semantic_search(np.empty((0, 3)), corpus) == []
    ties = semantic_search(np.ones((1, 2)), np.ones((10, 2)), top_k=4, chunk_size=3)
    assert [h.corpus_id for h in ties[0]] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "kwargs",
    [{"score": "euclid"}, {"top_k": 0}, {"chunk_size": 0}],
)
def test_search_rejects_bad_options(kwargs: dict) -> None:
    with pytest.raises(EmbedlabError):
        semantic_search(np.ones((1, 2)), np.ones((3, 2)), **kwargs)


def test_search_rejects_mismatch_and_nan() -> None:
    with pytest.raises(EmbedlabError, match="dimension"):
        semantic_search(np.ones((1, 2)), np.ones((3, 4)))
    with pytest.raises(EmbedlabError, match="non-finite"):
        semantic_search(np.ones((1, 2)), np.array([[1.0, np.nan]]))


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (1.0, "paraphrase"),
        (0.85, "paraphrase"),
        (0.8499, "related"),
        (0.6, "related"),
        (0.5999, "weakly related"),
        (0.2, "weakly related"),
        (0.1999, "unrelated"),
        (-1.0, "unrelated"),
    ],
)
def test_band_boundaries(score: float, label: str) -> None:
    assert band(score) == label


def test_custom_and_invalid_bands() -> None:
    strict = SimilarityBands(paraphrase=0.95, related=0.7, unrelated=0.3)
    assert band(0.9, strict) == "related" and band(0.9) == "paraphrase"
    with pytest.raises(EmbedlabError):
        SimilarityBands(paraphrase=0.5, related=0.6)
    with pytest.raises(EmbedlabError):
        band(math.nan)


@given(st.floats(-1, 1), st.floats(-1, 1))
def test_bands_are_monotone(x: float, y: float) -> None:
    order = ["unrelated", "weakly related", "related", "paraphrase"]
    lo, hi = sorted((x, y))
    assert order.index(band(lo)) <= order.index(band(hi))
