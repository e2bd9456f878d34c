"""SparseIndex: exact dot-product search over CSR rows, persistence, the CLI, retrieval evaluation, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse
from typer.testing import CliRunner

from embedlab import EmbedlabError, SparseEncoder
from embedlab.cli.app import app
from embedlab.data.beir import load_beir
from embedlab.data.corpus import Document
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval, retrieval_run
from embedlab.index.index import Index
from embedlab.index.sparse_index import SparseIndex, sparse_top_k
from tests.files import write_jsonl
from tests.test_retrieval import write_beir
from tests.tiny_sparse import save_st_sparse

runner = CliRunner()
DOCS = [Document("cats", "Cats purr when they are happy.", "Cats"), Document("dogs", "Dogs bark at strangers."),
        Document("fish", "Fish swim in the sea all day long."), Document("birds", "Birds sing at dawn.")]  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    return save_st_sparse(tmp_path_factory.mktemp("sparse") / "model", tokenizer)


@pytest.fixture(scope="module")
def model(model_dir):
    return SparseEncoder.load(model_dir)


def brute_force(model, query: str, texts: list[str]) -> list[int]:
    scores = model.encode_documents(texts).toarray() @ model.encode_queries([query]).toarray()[0]
    return list(np.lexsort((np.arange(len(scores)), -scores)))


def test_search_is_the_exact_dot_product_ranking(model):
    index = SparseIndex.build(model, DOCS)
    hits = index.search("happy cats purr", k=4)
    texts = [c.encoded_text() for c in index.chunks]
    assert [h.doc_id for h in hits] == [index.chunks[i].doc_id for i in brute_force(model, "happy cats purr", texts)]
    assert hits[0].score == pytest.approx(max(h.score for h in hits))
    assert len(index.search(["a", "b"], k=2)) == 2 and len(index.search("a", k=99)) == 4


def test_add_replaces_a_document_with_the_same_id(model):
    index = SparseIndex.build(model, DOCS)
    index.add([Document("dogs", "Dogs sleep all afternoon.")])
    assert index.documents == 4 and index.matrix.shape[0] == len(index) == 4
    assert [c.text for c in index.chunks if c.doc_id == "dogs"] == ["Dogs sleep all afternoon."]


def test_bm25_and_hybrid_modes(model):
    index = SparseIndex.build(model, DOCS)
    assert index.search("dogs bark", k=1, mode="bm25")[0].doc_id == "dogs"
    assert {h.doc_id for h in index.search("dogs bark", k=4, mode="hybrid")} == {d.id for d in DOCS}
    with pytest.raises(EmbedlabError, match="unknown search mode"):
        index.search("x", mode="dense")


def test_save_and_load_give_the_same_hits(model, tmp_path):
    index = SparseIndex.build(model, DOCS)
    index.save(tmp_path / "idx")
    again = SparseIndex.load(tmp_path / "idx", model)
    assert again.search("fish in the sea", k=4) == index.search("fish in the sea", k=4)
    (tmp_path / "idx" / "documents.npz").write_bytes(b"broken")
    with pytest.raises(EmbedlabError, match="corrupt"):
        SparseIndex.load(tmp_path / "idx", model)


def test_sparse_and_dense_models_and_indexes_do_not_mix(model, tiny_encoder, tmp_path):
    with pytest.raises(EmbedlabError, match="is a sparse model; this index holds dense vectors"):
        Index.build(model, DOCS)
    with pytest.raises(EmbedlabError, match="is a dense model; a sparse index holds SPLADE rows"):
        SparseIndex.build(tiny_encoder, DOCS)
    Index.build(tiny_encoder, DOCS).save(tmp_path / "dense")
    with pytest.raises(EmbedlabError, match="is a sparse model"):
        Index.load(tmp_path / "dense", model)
    with pytest.raises(EmbedlabError, match="not a sparse index"):
        SparseIndex.load(tmp_path / "dense", model)
    SparseIndex.build(model, DOCS).save(tmp_path / "sparse")
    with pytest.raises(EmbedlabError, match="is a dense model"):
        SparseIndex.load(tmp_path / "sparse", tiny_encoder)


@given(st.integers(1, 6), st.lists(st.lists(st.integers(0, 3), min_size=5, max_size=5), min_size=1, max_size=7))
def test_sparse_top_k_matches_a_dense_sort(k, rows):
    documents = sparse.csr_matrix(np.asarray(rows, dtype=np.float32))
    queries = sparse.csr_matrix(np.asarray([[1, 0, 2, 0, 1], [0, 0, 0, 0, 0]], dtype=np.float32))
    dense = queries.toarray() @ documents.toarray().T
    for hits, scores in zip(sparse_top_k(queries, documents, k), dense):
        expected = np.lexsort((np.arange(len(scores)), -scores))[:k]
        assert [h.corpus_id for h in hits] == list(expected)
        assert [h.score for h in hits] == pytest.approx(scores[expected].tolist())


def test_retrieval_evaluation_ranks_by_sparse_dot_products(model, tmp_path):
    root = write_beir(tmp_path / "tiny")
    dataset = load_beir(root)
    run = retrieval_run(model, dataset, RetrievalConfig(top_k=3))
    texts = dataset.doc_texts()
    for query_id, ranked in run.items():
        expected = [dataset.doc_ids()[i] for i in brute_force(model, dataset.queries[query_id], texts)]
        assert list(ranked) == expected
    result = evaluate_retrieval(model, root, RetrievalConfig(hybrid=True))
    assert result.settings["score"] == "dot" and result.settings["model_info"]["kind"] == "sparse"
    assert 0 <= result.metrics["ndcg@10"] <= 1
    with pytest.raises(EmbedlabError, match="a sparse model takes none"):
        evaluate_retrieval(model, root, RetrievalConfig(task="Find the passage"))


def test_the_cli_builds_searches_grows_and_describes_a_sparse_index(model_dir, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": d.id, "text": d.text} for d in DOCS])
    out = str(tmp_path / "idx")

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    built = invoke("index", "build", "--corpus", str(corpus), "--out", out, "-m", str(model_dir))
    assert "as 4 chunks" in built and (tmp_path / "idx" / "documents.npz").is_file()
    lines = invoke("index", "search", out, "cats purr", "-k", "2", "--json").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["doc_id"] in {d.id for d in DOCS}
    assert invoke("index", "search", out, "dogs bark", "-k", "1", "--mode", "bm25", "--json").count("dogs") >= 1
    extra = write_jsonl(tmp_path / "more.jsonl", [{"_id": "owls", "text": "Owls hunt at night."}])
    assert "5 in" in invoke("index", "add", out, "--corpus", str(extra))
    assert "vocab" in invoke("index", "info", out)
    refused = runner.invoke(app, ["index", "build", "--corpus", str(corpus), "--out", str(tmp_path / "x"), "-m",
                                  str(model_dir), "--store", "faiss-hnsw"])  # fmt: skip
    assert isinstance(refused.exception, EmbedlabError) and "inverted index of its rows" in str(refused.exception)


def test_the_cli_evaluates_a_sparse_model(model_dir, tmp_path):
    root = write_beir(tmp_path / "tiny")
    result = runner.invoke(app, ["eval", "retrieval", "-m", str(model_dir), "--data", str(root), "--hybrid"])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output
