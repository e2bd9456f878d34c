"""Ranking metrics against hand-computed cases and against trec_eval itself (pytrec_eval)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError
from embedlab.evaluation.ranking_metrics import Cutoffs, ranking_metrics, trec_order
from tests.conftest import real_data

pytrec_eval = pytest.importorskip("pytrec_eval")

# Our metric name -> trec_eval's, for the default cutoffs (mrr@10 is compared separately).
TREC_NAMES = {
    **{f"ndcg@{k}": f"ndcg_cut_{k}" for k in (1, 3, 5, 10, 100)},
    **{f"recall@{k}": f"recall_{k}" for k in (1, 5, 10, 100)},
    **{f"map@{k}": f"map_cut_{k}" for k in (10, 100)},
    "p@10": "P_10",
}
TREC_MEASURES = {"ndcg_cut.1,3,5,10,100", "recall.1,5,10,100", "map_cut.10,100", "P.10"}


def assert_matches_trec_eval(qrels, run) -> None:
    """Per-query equality (1e-6) with pytrec_eval on every query it scores, i.e. those in qrels and run."""
    ours = ranking_metrics(qrels, run).per_query
    theirs = pytrec_eval.RelevanceEvaluator(qrels, TREC_MEASURES).evaluate(run)
    # MRR@10 is trec_eval's recip_rank of the run cut to its top 10 in trec_eval's own order.
    top10 = {qid: {doc: docs[doc] for doc in trec_order(docs)[:10]} for qid, docs in run.items()}
    reciprocal = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    assert set(theirs) == {qid for qid in run if qid in qrels}
    for qid, values in theirs.items():
        for name, trec_name in TREC_NAMES.items():
            assert ours[qid][name] == pytest.approx(values[trec_name], abs=1e-6), (qid, name)
        assert ours[qid]["mrr@10"] == pytest.approx(reciprocal[qid]["recip_rank"], abs=1e-6), qid


def test_hand_computed_graded_example():
    # Ranked: x (unjudged), a (grade 2), c (grade 0), b (grade 1).
    qrels = {"q": {"a": 2, "b": 1, "c": 0}}
    run = {"q": {"x": 3.0, "a": 2.0, "c": 1.5, "b": 1.0}}
    scores = ranking_metrics(qrels, run).per_query["q"]
    dcg3 = 2 / math.log2(3)
    idcg3 = 2 / math.log2(2) + 1 / math.log2(3)
    assert scores["ndcg@3"] == pytest.approx(dcg3 / idcg3)
    assert scores["ndcg@1"] == 0.0
    assert scores["ndcg@10"] == pytest.approx((dcg3 + 1 / math.log2(5)) / idcg3)
    assert scores["mrr@10"] == 0.5
    assert scores["recall@1"] == 0.0 and scores["recall@5"] == 1.0
    assert scores["p@10"] == pytest.approx(2 / 10)
    assert scores["map@10"] == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_ties_go_to_the_larger_doc_id_like_trec_eval():
    qrels = {"q": {"a": 1}}
    assert ranking_metrics(qrels, {"q": {"a": 1.0, "b": 1.0}}).per_query["q"]["mrr@10"] == 0.5
    assert ranking_metrics(qrels, {"q": {"a": 1.0, "0": 1.0}}).per_query["q"]["mrr@10"] == 1.0
    # String order, not numeric: "9" sorts above "10", so "9" is ranked first.
    assert trec_order({"10": 1.0, "9": 1.0, "8": 2.0}) == ["8", "9", "10"]


def test_queries_missing_from_the_run_score_zero_and_unjudged_run_queries_are_ignored():
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}}
    scores = ranking_metrics(qrels, {"q1": {"a": 1.0}, "other": {"a": 1.0}})
    assert set(scores.per_query) == {"q1", "q2"}
    assert scores.per_query["q2"] == {name: 0.0 for name in scores.mean}
    assert scores.mean["ndcg@10"] == 0.5 and scores.mean["mrr@10"] == 0.5


def test_a_query_without_relevant_docs_scores_zero_not_nan():
    scores = ranking_metrics({"q": {"a": 0}}, {"q": {"a": 1.0}}).per_query["q"]
    assert all(value == 0.0 for value in scores.values())


def test_custom_cutoffs_name_the_metrics_and_bad_cutoffs_fail():
    cutoffs = Cutoffs(ndcg=(2,), mrr=(1,), recall=(), map=(), precision=(1, 2))
    scores = ranking_metrics({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}}, cutoffs)
    assert scores.mean == pytest.approx({"ndcg@2": 1 / math.log2(3), "mrr@1": 0.0, "p@1": 0.0, "p@2": 0.5})
    with pytest.raises(EmbedlabError, match="cutoffs"):
        Cutoffs(ndcg=(0,))


# Few ids and scores, so ties and id-order questions ("9" vs "10") come up in almost every example.
doc_ids = st.sampled_from([str(i) for i in range(12)] + ["d1", "d10", "D2"])
# Any float: trec_eval compares scores as float32, so tiny or huge differences must tie the same way.
scores = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(allow_nan=False))


@st.composite
def qrels_and_runs(draw):
    query_ids = draw(st.lists(st.sampled_from(["q1", "q2", "q3", "10", "9"]), min_size=1, max_size=5, unique=True))
    qrels = {qid: draw(st.dictionaries(doc_ids, st.integers(-1, 3), min_size=1, max_size=8)) for qid in query_ids}
    run_ids = draw(st.lists(st.sampled_from(query_ids + ["extra"]), max_size=6, unique=True))
    run = {qid: draw(st.dictionaries(doc_ids, scores, max_size=15)) for qid in run_ids}
    return qrels, run


@settings(max_examples=150, deadline=None)
@given(qrels_and_runs())
def test_matches_pytrec_eval_on_random_runs_with_ties_and_grades(case):
    assert_matches_trec_eval(*case)


@settings(max_examples=50, deadline=None)
@given(qrels_and_runs())
def test_means_average_over_every_judged_query(case):
    qrels, run = case
    scores = ranking_metrics(qrels, run)
    for name, mean in scores.mean.items():
        assert mean == pytest.approx(sum(scores.per_query[qid][name] for qid in qrels) / len(qrels))
        assert 0.0 <= mean <= 1.0


@pytest.mark.parametrize("name", ["scifact", "cranfield"])
def test_matches_pytrec_eval_on_a_real_bm25_run(name):
    from embedlab.data.beir import load_beir
    from embedlab.evaluation.retrieval import RetrievalConfig, retrieval_run

    dataset = load_beir(real_data("beir", name))
    # Cranfield's query ids collide with its doc ids by accident, so nothing is dropped.
    run = retrieval_run("bm25", dataset, RetrievalConfig(ignore_identical_ids=False))
    assert_matches_trec_eval(dataset.qrels, run)
