"""ColBERT retrieval: the token index (FAISS candidates, exact MaxSim), exact evaluation, reranking, and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedlab import EmbedlabError, MultiVectorEncoder
from embedlab.cli.app import app
from embedlab.data.beir import load_beir
from embedlab.data.corpus import Document
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval, retrieval_run
from embedlab.evaluation.second_stage import rerank_run
from embedlab.index.index import Index
from embedlab.index.multi_vector_index import MultiVectorIndex, MultiVectorIndexConfig
from embedlab.models.multi_vector_rerank import MaxSimReranker, load_any_reranker
from embedlab.similarity import maxsim
from tests.test_retrieval import write_beir
from tests.tiny_colbert import save_st_colbert

TEXTS = ["A cat sits on the mat.", "A kitten sleeps on a rug.", "Stock markets fell sharply today.",
         "Birds fly south in winter.", "The bus to the city leaves at noon.", "Fish swim in the lake."]
runner = CliRunner()


@pytest.fixture(scope="module")
def colbert_dir(tmp_path_factory, tokenizer):
    return save_st_colbert(tmp_path_factory.mktemp("colbert") / "model", tokenizer)


@pytest.fixture(scope="module")
def colbert(colbert_dir):
    return MultiVectorEncoder.load(colbert_dir, device="cpu")


def brute_force(model, query: str, texts: list[str]) -> list[tuple[int, float]]:
    q = model.encode_queries([query])[0]
    scores = [maxsim(q, d) for d in model.encode_documents(texts)]
    return sorted(enumerate(scores), key=lambda p: (-p[1], p[0]))


@pytest.mark.parametrize("nlist", [0, 2])
def test_index_ranks_candidates_by_exact_maxsim(colbert, nlist, tmp_path):
    documents = [Document(str(i), t) for i, t in enumerate(TEXTS)]
    index = MultiVectorIndex.build(colbert, documents, MultiVectorIndexConfig(candidate_tokens=200, nlist=nlist))
    hits = index.search("Where do kittens sleep?", k=3)
    expected = brute_force(colbert, "Where do kittens sleep?", TEXTS)[:3]
    assert [(int(h.doc_id), h.score) for h in hits] == [(i, pytest.approx(s, abs=1e-4)) for i, s in expected]
    loaded = MultiVectorIndex.load(index.save(tmp_path / "index"), colbert)
    assert [h.doc_id for h in loaded.search("Where do kittens sleep?", k=3)] == [h.doc_id for h in hits]
    assert loaded.add([Document("0", "Trains run late.")]) == 1 and len(loaded) == len(TEXTS)
    assert loaded.info()["bytes_per_document"] > 0


def test_dense_and_multi_vector_models_do_not_mix(colbert, tiny_encoder):
    with pytest.raises(EmbedlabError, match="is a multi-vector model; this index holds dense vectors"):
        Index(colbert)
    with pytest.raises(EmbedlabError, match="needs a late-interaction"):
        MultiVectorIndex(tiny_encoder)


def test_exact_evaluation_equals_brute_force_maxsim(colbert, tmp_path):
    data = write_beir(tmp_path / "beir")
    dataset = load_beir(data, "test")
    run = retrieval_run(colbert, dataset, RetrievalConfig(use_cache=False, top_k=3))
    texts, ids = dataset.doc_texts(), dataset.doc_ids()
    for query_id, docs in run.items():
        expected = [(ids[i], s) for i, s in brute_force(colbert, dataset.queries[query_id], texts)]
        assert list(docs.items()) == [(d, pytest.approx(s, abs=1e-4)) for d, s in expected]
    result = evaluate_retrieval(colbert, data, RetrievalConfig(use_cache=False, hybrid=True))
    assert result.settings["score"] == "maxsim" and 0 <= result.metrics["ndcg@10"] <= 1


def test_colbert_reranks_any_first_stage(colbert, colbert_dir, tmp_path):
    data = write_beir(tmp_path / "beir")
    dataset = load_beir(data, "test")
    reranker = load_any_reranker(colbert_dir)
    assert isinstance(reranker, MaxSimReranker)
    run = rerank_run(reranker, dataset, retrieval_run("bm25", dataset), top_n=3)
    for query_id, docs in run.items():
        q = colbert.encode_queries([dataset.queries[query_id]])[0]
        for doc, score in list(docs.items())[:3]:
            assert score == pytest.approx(maxsim(q, colbert.encode_documents([dict(zip(
                dataset.doc_ids(), dataset.doc_texts()))[doc]])[0]), abs=1e-4)
    result = evaluate_retrieval("bm25", data, RetrievalConfig(use_cache=False), reranker=reranker)
    assert result.model.endswith(str(colbert_dir))
    assert reranker.predict([]).shape == (0,)
    with pytest.raises(EmbedlabError, match="pairs"):
        reranker.predict(["not a pair"])


def test_cli_builds_searches_and_evaluates_with_a_colbert_model(colbert_dir, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "index"
    result = runner.invoke(app, ["index", "build", "--corpus", str(corpus), "-o", str(out), "-m", str(colbert_dir)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["index", "search", str(out), "kitten", "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert len([json.loads(line) for line in result.output.splitlines()]) == 2
    result = runner.invoke(app, ["index", "info", str(out)])
    assert result.exit_code == 0 and "multi_vector" in result.output
    result = runner.invoke(app, ["index", "search", str(out), "kitten", "--mode", "bm25"])
    assert result.exit_code != 0 and "MaxSim only" in str(result.exception)
    data = write_beir(tmp_path / "beir")
    command = ["eval", "retrieval", "-m", str(colbert_dir), "-d", str(data), "--rerank", str(colbert_dir)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
