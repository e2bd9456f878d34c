"""Reranking evaluation: the model re-orders fixed candidate lists; only their order may change the score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError
from embedlab.evaluation.reranking import evaluate_reranking
from embedlab.evaluation.retrieval import evaluate_retrieval
from embedlab.models.static_encoder import StaticEncoder
from tests.test_retrieval import write_beir

# BM25's worst order for q1, whose one relevant doc is d1: the cat sentence ranked last.
BAD_ORDER = {"q1": {"d3": 3.0, "d2": 2.0, "d1": 1.0}}


@pytest.fixture
def cat_query(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    return write_beir(tmp_path / "cats", queries={"q1": "cat on a mat"}, qrels={"q1": {"d1": 1}})


def test_the_model_repairs_a_bad_candidate_order(minilm, cat_query):
    result = evaluate_reranking(minilm, cat_query, candidates=BAD_ORDER)
    expected = {"map": 1.0, "mrr@10": 1.0, "candidate_map": 1 / 3, "candidate_mrr@10": 1 / 3}
    assert result.metrics == pytest.approx(expected)
    assert (result.task, result.main_metric, result.main_score) == ("reranking", "map", 1.0)
    assert result.settings["candidates"] == "given run" and result.settings["candidate_documents"] == 3


def test_top_n_cuts_the_candidates_before_reranking(minilm, cat_query):
    # The best two candidates by score are d3 and d2, so the relevant d1 is out of reach.
    result = evaluate_reranking(minilm, cat_query, candidates=BAD_ORDER, top_n=2)
    assert result.metrics == {"map": 0.0, "mrr@10": 0.0, "candidate_map": 0.0, "candidate_mrr@10": 0.0}


def test_bm25_candidates_over_the_whole_corpus_agree_with_retrieval(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    root = write_beir(tmp_path / "tiny")
    result = evaluate_reranking(minilm, root)
    # With every doc a candidate, reranking is dense retrieval and the candidates are BM25 retrieval.
    assert result.metrics["map"] == pytest.approx(evaluate_retrieval(minilm, root).metrics["map@100"])
    assert result.metrics["candidate_map"] == pytest.approx(evaluate_retrieval("bm25", root).metrics["map@100"])
    assert result.settings["candidates"] == "bm25" and result.settings["queries"] == 3


def test_judged_queries_without_candidates_score_zero(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    root = write_beir(tmp_path / "tiny")  # q1, q2, q3 judged; candidates only for q1 and an unknown query
    result = evaluate_reranking(minilm, root, candidates={"q1": {"d2": 1.0, "d1": 2.0}, "zz": {"d1": 1.0}})
    # q1's relevant d2 is reranked below d1 (it is less like "cat on a mat"): AP 1/2, averaged over 3 queries.
    assert result.metrics["map"] == pytest.approx((1 / 2) / 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "bm25"}, "needs an embedding model"),
        ({"candidates": "dense"}, "candidates must be 'bm25' or a run"),
        ({"candidates": {"q1": {"d9": 1.0}}}, "1 candidate doc ids are not in the corpus"),
        ({"top_n": 0}, "top_n must be >= 1"),
    ],
)
def test_bad_arguments_raise_one_line_errors(minilm, cat_query, kwargs, message):
    with pytest.raises(EmbedlabError, match=message):
        evaluate_reranking(kwargs.pop("model", minilm), cat_query, **kwargs)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(["d1", "d2", "d3"]), min_size=1, unique=True), st.randoms(use_true_random=False))
def test_the_reranked_score_ignores_candidate_scores(tmp_path_factory, docs, random):
    root = tmp_path_factory.getbasetemp() / "rerank-property"
    if not root.exists():
        write_beir(root)
    model = StaticEncoder(["cat", "mat", "kitten", "rug", "stock", "markets"], np.eye(6, dtype=np.float32) + 0.1)
    one = evaluate_reranking(model, root, candidates={"q1": {d: random.random() for d in docs}}, use_cache=False)
    other = evaluate_reranking(model, root, candidates={"q1": {d: random.random() for d in docs}}, use_cache=False)
    assert one.metrics["map"] == other.metrics["map"] and one.metrics["mrr@10"] == other.metrics["mrr@10"]
