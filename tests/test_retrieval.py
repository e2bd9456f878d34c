"""Retrieval evaluation on tiny BEIR directories: BEIR loading, hand-checked metrics, id handling, the cache."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab import Encoder
from embedlab.data.beir import doc_text, load_beir
from embedlab.errors import EmbedlabError
from embedlab.evaluation.embedding_cache import cached_encode
from embedlab.evaluation.retrieval import (
    RetrievalConfig,
    evaluate_retrieval,
    retrieval_run,
)
from embedlab.models.fingerprint import model_fingerprint
from embedlab.models.static_encoder import StaticEncoder

DOCS = {
    "d1": ("", "A cat sits on the mat."),
    "d2": ("", "A kitten sleeps on a rug."),
    "d3": ("", "Stock markets fell sharply today."),
}
# With all-MiniLM-L6-v2 the orders are clear-cut: q1 d1>d2>d3, q2 d3>{d1,d2}, q3 d2>d1>d3.
QUERIES = {"q1": "cat on a mat", "q2": "Stock prices dropped", "q3": "Where do kittens sleep?", "q4": "unjudged"}
QRELS = {"q1": {"d2": 1}, "q2": {"d3": 1}, "q3": {"d1": 2, "d2": 1}}


def write_beir(root: Path, corpus=DOCS, queries=QUERIES, qrels=QRELS, split: str = "test") -> Path:
    """A BEIR directory: corpus {id: (title, text)}, queries {id: text}, qrels {query: {doc: grade}}."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"_id": i, "title": title, "text": text}) for i, (title, text) in corpus.items()]
    (root / "corpus.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items()))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, docs in qrels.items() for d, g in docs.items()]
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    return write_beir(tmp_path / "tiny")


# ---- loading -------------------------------------------------------------------------------------


def test_load_beir_keeps_judged_queries_and_joins_title_and_text(tiny):
    dataset = load_beir(tiny)
    assert dataset.name == "tiny" and dataset.split == "test"
    assert list(dataset.queries) == ["q1", "q2", "q3"]  # q4 has no judgements in this split
    assert dataset.doc_ids() == ["d1", "d2", "d3"] and dataset.qrels == QRELS
    assert dataset.corpus_sha256 == hashlib.sha256((tiny / "corpus.jsonl").read_bytes()).hexdigest()
    assert doc_text("Title", "Body.") == "Title Body." and doc_text("", "Body.") == "Body." and doc_text("T", "") == "T"


def test_load_beir_accepts_integer_ids_a_missing_title_and_no_header(tmp_path):
    (tmp_path / "qrels").mkdir()
    corpus = '{"_id": 7, "text": "seven"}\n\n{"_id": "8", "title": null, "text": "eight"}\n'
    (tmp_path / "corpus.jsonl").write_text(corpus)
    (tmp_path / "queries.jsonl").write_text('{"_id": 1, "text": "which?"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("1\t7\t2\n1\t8\t0\n")
    dataset = load_beir(tmp_path)
    assert dataset.qrels == {"1": {"7": 2, "8": 0}} and dataset.doc_texts() == ["seven", "eight"]


def test_load_beir_finds_a_dataset_by_name_under_the_data_root(tmp_path, monkeypatch):
    write_beir(tmp_path / "beir" / "mini")
    monkeypatch.setenv("EMBEDLAB_DATA", str(tmp_path))
    assert load_beir("mini").name == "mini"


HEADER = "query-id\tcorpus-id\tscore\n"


@pytest.mark.parametrize(
    "file, content, message",
    [
        ("corpus.jsonl", None, "missing BEIR file"),
        ("corpus.jsonl", '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', r"corpus\.jsonl:2 is not valid JSON"),
        ("corpus.jsonl", '{"_id": "d1", "text": 5}\n', r"corpus\.jsonl:1 has no string field 'text'"),
        ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n', "repeats the id 'd1'"),
        ("queries.jsonl", '["q1", "text"]\n', r"queries\.jsonl:1 is not a JSON object"),
        ("qrels/test.tsv", HEADER + "q1 d1 1\n", r"test\.tsv:2 has 1 tab-separated"),
        ("qrels/test.tsv", HEADER + "q1\td1\thigh\n", r"test\.tsv:2 has a non-integer score"),
        ("qrels/test.tsv", "q1\td9\t1\n", "1 corpus ids are not in corpus.jsonl .first: 'd9'"),
        ("qrels/test.tsv", "q9\td1\t1\n", "1 query ids are not in queries.jsonl"),
        ("qrels/test.tsv", HEADER, "holds no judgements"),
    ],
)
def test_load_beir_reports_broken_files_in_one_line(tiny, file, content, message):
    if content is None:
        (tiny / file).unlink()
    else:
        (tiny / file).write_text(content)
    with pytest.raises(EmbedlabError, match=message) as info:
        load_beir(tiny)
    assert "\n" not in str(info.value)


def test_load_beir_names_the_splits_present_and_missing_directories(tiny):
    with pytest.raises(EmbedlabError, match="no split 'dev'.*splits present: test"):
        load_beir(tiny, split="dev")
    with pytest.raises(EmbedlabError, match="no BEIR dataset directory"):
        load_beir(tiny / "nope")


# ---- dense retrieval -----------------------------------------------------------------------------


def test_minilm_metrics_on_a_three_document_corpus_match_hand_computation(minilm, tiny):
    result = evaluate_retrieval(minilm, tiny, RetrievalConfig(top_k=3))
    # q1: its one relevant doc at rank 2. q2: at rank 1. q3: grade-1 doc at rank 1, grade-2 doc at rank 2.
    q1, q3 = 1 / math.log2(3), (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    expected = {
        "ndcg@1": (0 + 1 + 1 / 2) / 3,
        "ndcg@10": (q1 + 1 + q3) / 3,
        "mrr@10": (1 / 2 + 1 + 1) / 3,
        "recall@1": (0 + 1 + 1 / 2) / 3,
        "recall@5": 1.0,
        "map@10": (1 / 2 + 1 + 1) / 3,
        "p@10": 0.1 * (1 + 1 + 2) / 3,
    }
    assert {k: result.metrics[k] for k in expected} == pytest.approx(expected)
    assert (result.task, result.dataset, result.model, result.main_metric) == (
        "retrieval",
        "tiny/test",
        "minilm",
        "ndcg@10",
    )
    assert result.settings["queries"] == 3 and result.settings["documents"] == 3
    assert result.settings["prompts"] == {"query": "", "document": ""} and result.settings["ignore_identical_ids"]


def test_query_and_document_prompts_are_used_and_reported(minilm, tiny):
    prompted = Encoder.from_transformer(minilm.transformer, minilm.tokenizer, name="prompted")
    prompted.layout.prompts = {"query": "query: ", "passage": "passage: "}
    result = evaluate_retrieval(prompted, tiny)
    assert result.settings["prompts"] == {"query": "query: ", "document": "passage: "}
    # The prompts change the embeddings, so the unprompted model's cached corpus must not be reused.
    dataset = load_beir(tiny)
    assert retrieval_run(prompted, dataset)["q1"] != retrieval_run(minilm, dataset)["q1"]
    assert len(list((tiny.parent / "cache").glob("*.npy"))) == 2


def test_ignore_identical_ids_drops_the_query_itself_and_keeps_top_k(minilm, tmp_path):
    root = write_beir(tmp_path / "self", queries={"d1": "A cat sits on the mat."}, qrels={"d1": {"d2": 1}})
    dataset = load_beir(root)
    dropped = retrieval_run(minilm, dataset, RetrievalConfig(top_k=2, use_cache=False))
    kept = retrieval_run(minilm, dataset, RetrievalConfig(top_k=2, use_cache=False, ignore_identical_ids=False))
    assert list(dropped["d1"]) == ["d2", "d3"]
    assert list(kept["d1"]) == ["d1", "d2"]
    assert kept["d1"]["d1"] == pytest.approx(1.0, abs=1e-5)


def test_bm25_mode_and_unknown_retrievers(tiny):
    # Only d1 shares terms with q1 ("cat", "mat"); the zero-score rest follow in corpus order, as do q3's.
    assert {q: list(docs) for q, docs in retrieval_run("bm25", load_beir(tiny)).items()} == {
        "q1": ["d1", "d2", "d3"],
        "q2": ["d3", "d1", "d2"],
        "q3": ["d2", "d1", "d3"],
    }
    result = evaluate_retrieval("bm25", tiny)
    # trec_eval breaks q1's zero-score tie by doc id descending, so its judged d2 ranks third, not second.
    assert result.metrics["mrr@10"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert result.model == "bm25" and result.settings["bm25"]["method"] == "lucene"
    with pytest.raises(EmbedlabError, match="only named retriever is 'bm25'"):
        evaluate_retrieval("tfidf", tiny)
    with pytest.raises(EmbedlabError, match="top_k"):
        RetrievalConfig(top_k=0)


# ---- the embedding cache -------------------------------------------------------------------------


def counting(model):
    """encode_documents that counts its calls, for telling cache hits from misses."""
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return model.encode_documents(texts)

    return encode, calls


def test_cached_evaluation_gives_identical_results(minilm, tiny):
    first = evaluate_retrieval(minilm, tiny)
    cached = list((tiny.parent / "cache").glob("*.npy"))
    second = evaluate_retrieval(minilm, tiny)
    uncached = evaluate_retrieval(minilm, tiny, RetrievalConfig(use_cache=False, batch_size=2))
    assert len(cached) == 1 and list((tiny.parent / "cache").glob("*.npy")) == cached
    assert first.metrics == second.metrics
    assert uncached.metrics == pytest.approx(first.metrics, abs=1e-6)


def test_cache_hits_only_for_the_same_weights_settings_and_texts(minilm, tmp_path):
    texts = [doc_text(*doc) for doc in DOCS.values()]
    encode, calls = counting(minilm)
    first = cached_encode(minilm, texts, encode, {"method": "encode_documents"}, tmp_path)
    again = cached_encode(minilm, texts, encode, {"method": "encode_documents"}, tmp_path)
    assert calls == [3] and np.array_equal(first, again)
    cached_encode(minilm, texts, encode, {"method": "encode_documents", "dim": 64}, tmp_path)
    cached_encode(minilm, texts[:2], encode, {"method": "encode_documents"}, tmp_path)
    assert calls == [3, 3, 2]

    perturbed = copy.deepcopy(minilm)
    with torch.no_grad():
        perturbed.transformer.embeddings.word_embeddings.weight[0, 0] += 1e-3
    other_pooling = Encoder.from_transformer(minilm.transformer, minilm.tokenizer, pooling="cls", name="minilm")
    for model in (perturbed, other_pooling):
        encode, calls = counting(model)
        cached_encode(model, texts, encode, {"method": "encode_documents"}, tmp_path)
        assert calls == [3]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path: path.write_bytes(b"not an npy file"),
        lambda path: path.write_bytes(path.read_bytes()[:-100]),
        lambda path: np.save(path.with_suffix(""), np.zeros((2, 384), np.float32)),
        lambda path: np.save(path.with_suffix(""), np.full((3, 384), np.nan, np.float32)),
        lambda path: np.save(path.with_suffix(""), np.zeros((3, 384), np.float64)),
    ],
    ids=["garbage", "truncated", "wrong-rows", "nan", "float64"],
)
def test_a_corrupt_cache_file_is_re_encoded_and_rewritten(minilm, tmp_path, spoil):
    texts = [doc_text(*doc) for doc in DOCS.values()]
    encode, calls = counting(minilm)
    expected = cached_encode(minilm, texts, encode, {}, tmp_path)
    (path,) = tmp_path.glob("*.npy")
    spoil(path)
    assert np.array_equal(cached_encode(minilm, texts, encode, {}, tmp_path), expected)
    assert np.array_equal(np.load(path), expected) and calls == [3, 3]


def test_static_models_are_fingerprinted_by_their_vectors():
    vectors = np.eye(3, dtype=np.float32)
    model = StaticEncoder(["cat", "dog", "bird"], vectors)
    changed = vectors.copy()
    changed[0, 1] = 0.5
    assert model_fingerprint(model) == model_fingerprint(StaticEncoder(["cat", "dog", "bird"], vectors.copy()))
    assert model_fingerprint(model) != model_fingerprint(StaticEncoder(["cat", "dog", "bird"], changed))


def test_models_without_readable_weights_are_never_cached(tmp_path):
    class Opaque:
        name = "opaque"

        def info(self):
            return {"name": self.name}

    calls = []
    out = cached_encode(Opaque(), ["a"], lambda texts: calls.append(1) or np.ones((1, 2)), {}, tmp_path)
    cached_encode(Opaque(), ["a"], lambda texts: calls.append(1) or np.ones((1, 2)), {}, tmp_path)
    assert out.dtype == np.float32 and len(calls) == 2 and not list(tmp_path.iterdir())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=6))
def test_cached_encode_returns_what_encode_returns(tmp_path_factory, texts):
    model = StaticEncoder(["cat", "dog", "bird"], np.eye(3, dtype=np.float32) + 0.1)
    directory = tmp_path_factory.mktemp("cache")
    direct = model.encode(texts)
    for _ in range(2):  # a miss, then a hit
        got = cached_encode(model, texts, model.encode, {}, directory)
        assert got.shape == direct.shape and np.array_equal(got, direct)
