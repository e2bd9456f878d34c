"""Index: chunked documents in a store, dense / BM25 / hybrid search, filters, incremental changes and safe saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embedlab.data.corpus import ChunkConfig, Document
from embedlab.errors import EmbedlabError
from embedlab.index.index import MANIFEST, Index, IndexConfig, read_manifest
from tests.fakes import HashingEncoder

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    Document("cats", "Cats purr when they are happy and sleep most of the day.", "Cats", {"lang": "en", "year": 2020}),
    Document("dogs", "Dogs bark at strangers and love long walks.", "Dogs", {"lang": "en", "year": 2021}),
    Document("bourse", "La bourse de Paris a chuté lundi.", "Bourse", {"lang": "fr", "year": 2021}),
    Document("long", " ".join(f"word{i}" for i in range(50)), "", {"lang": "en", "year": 2019}),
]
CONFIG = IndexConfig(chunks=ChunkConfig(max_tokens=20, overlap=5))


def build(encoder=None, documents=DOCS, config=CONFIG) -> Index:
    return Index.build(encoder or HashingEncoder(), documents, config)


def test_search_finds_the_document_sharing_words_and_keeps_chunk_offsets():
    index = build()
    assert (index.documents, len(index)) == (4, 3 + 3)  # 50 words in windows of 20 every 15: 0-19, 15-34, 30-49
    hit = index.search("why do cats purr", k=1)[0]
    assert (hit.doc_id, hit.chunk_id, hit.title, hit.metadata) == ("cats", 0, "Cats", {"lang": "en", "year": 2020})
    chunks = [index.chunks[f"long#{n}"] for n in range(3)]
    assert [c.text.split()[0] for c in chunks] == ["word0", "word15", "word30"]
    assert all(DOCS[3].text[c.start : c.end] == c.text for c in chunks)
    top = index.search("word33 word34", k=2, mode="bm25")
    assert {(h.doc_id, h.chunk_id) for h in top} == {("long", 1), ("long", 2)}  # the overlap holds both words


def test_one_query_gives_a_list_many_give_lists_and_none_give_none():
    index = build()
    assert isinstance(index.search("dogs", k=2)[0], tuple)
    many = index.search(["dogs bark", "cats purr"], k=1)
    assert [hits[0].doc_id for hits in many] == ["dogs", "cats"]
    assert index.search([], k=3) == []


def test_filters_apply_in_every_mode():
    index = build()
    for mode in ("dense", "bm25", "hybrid"):
        hits = index.search("dogs bark at strangers", k=10, mode=mode, where={"lang": "fr"})
        assert {h.doc_id for h in hits} <= {"bourse"}
        years = index.search("dogs bark", k=10, mode=mode, where={"year": [2019, 2020]})
        assert {h.doc_id for h in years} <= {"cats", "long"}
        assert {h.doc_id for h in index.search("word1", k=10, mode=mode, where={"doc_id": "long"})} <= {"long"}


def test_bm25_ranks_by_shared_terms_and_hybrid_fuses_both():
    index = build()
    assert index.search("strangers walks", k=1, mode="bm25")[0].doc_id == "dogs"
    assert index.search("chuté lundi", k=1, mode="hybrid")[0].doc_id == "bourse"


class ByLength:
    """A reranker preferring longer passages, whatever the query."""

    def __init__(self) -> None:
        self.pairs: list = []

    def predict(self, pairs, activation=True):
        assert activation is False  # raw scores: a sigmoid would tie the best candidates
        self.pairs += pairs
        return np.array([len(passage) for _, passage in pairs], dtype=float)


def test_a_reranker_reorders_the_first_candidates():
    index = build()
    reranker = ByLength()
    hits = index.search("cats dogs", k=2, reranker=reranker, rerank_top=4)
    assert len(reranker.pairs) == 4 and all(query == "cats dogs" for query, _ in reranker.pairs)
    lengths = [len(index.chunks[f"{h.doc_id}#{h.chunk_id}"].encoded_text()) for h in hits]
    assert lengths == sorted(lengths, reverse=True) and hits[0].score == lengths[0]


def test_add_encodes_only_new_documents_and_replaces_by_id():
    encoder = HashingEncoder()
    index = build(encoder, DOCS[:2])
    encoder.calls.clear()
    index.add([Document("birds", "Birds sing at dawn."), Document("dogs", "Dogs are loyal companions.")])
    assert encoder.calls == [["Birds sing at dawn.", "Dogs are loyal companions."]]
    assert index.documents == 3 and len(index.store) == len(index) == 3
    assert index.search("loyal companions", k=1)[0].text == "Dogs are loyal companions."
    assert index.delete(["birds", "nobody"]) == 1
    assert {h.doc_id for h in index.search("birds sing", k=5)} == {"cats", "dogs"}


def test_save_and_load_give_the_same_answers_and_keep_one_generation(tmp_path):
    index = build()
    index.save(tmp_path / "idx")
    index.add([Document("birds", "Birds sing at dawn.")])
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["g000002", MANIFEST]
    back = Index.load(tmp_path / "idx", encoder=HashingEncoder())
    for mode in ("dense", "bm25", "hybrid"):
        assert back.search("birds dogs cats", k=4, mode=mode) == index.search("birds dogs cats", k=4, mode=mode)
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["counts"] == {"documents": 5, "chunks": 7}
    assert manifest["model"]["dim"] == 16 and manifest["model"]["name"] == "hashing"


def test_a_different_model_is_refused(tmp_path):
    build().save(tmp_path / "idx")
    with pytest.raises(EmbedlabError, match="16-d vectors .* makes 8-d"):
        Index.load(tmp_path / "idx", encoder=HashingEncoder(dim=8))
    with pytest.raises(EmbedlabError, match="other weights"):
        Index.load(tmp_path / "idx", encoder=HashingEncoder(seed=1))


def test_corrupt_or_foreign_directories_are_one_line_errors(tmp_path):
    build().save(tmp_path / "idx")
    chunks = next((tmp_path / "idx").glob("g*/chunks.jsonl"))
    chunks.write_text(chunks.read_text().replace("purr", "pure"))
    with pytest.raises(EmbedlabError, match="corrupt"):
        Index.load(tmp_path / "idx", encoder=HashingEncoder())
    (tmp_path / "idx" / MANIFEST).write_text("{not json")
    with pytest.raises(EmbedlabError, match="cannot read"):
        Index.load(tmp_path / "idx", encoder=HashingEncoder())
    with pytest.raises(EmbedlabError, match="not an index"):
        Index.load(tmp_path, encoder=HashingEncoder())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(EmbedlabError, match="not an index directory"):
        build().save(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "documents, message",
    [
        ([], "no documents"),
        (None, "list of Document"),
        (["text"], r"documents\[0\] is str"),
        ([Document("a", "x"), Document("a", "y")], "'a' appears twice"),
        ([Document("a", "x", metadata={"doc_id": "b"})], "reserved"),
    ],
)
def test_bad_documents(documents, message):
    with pytest.raises(EmbedlabError, match=message):
        Index.build(HashingEncoder(), documents)


def test_bad_search_arguments():
    index = build()
    with pytest.raises(EmbedlabError, match="unknown search mode"):
        index.search("x", mode="sparse")
    with pytest.raises(EmbedlabError, match="k and rerank_top"):
        index.search("x", k=0)
    with pytest.raises(TypeError, match="texts"):
        index.search(None)


@pytest.mark.parametrize("store", ["faiss-hnsw", "int8", "milvus"])
def test_other_stores_behind_the_same_index(store, tmp_path):
    options = {"workdir": str(tmp_path / "work")} if store == "milvus" else {}
    index = build(config=IndexConfig(store=store, store_options=options, chunks=ChunkConfig(20, 5)))
    assert index.search("why do cats purr", k=1)[0].doc_id == "cats"
    index.delete(["cats"])
    index.add([Document("birds", "Birds sing at dawn.", metadata={"lang": "en"})])
    index.save(tmp_path / "idx")
    load_options = {"workdir": str(tmp_path / "work2")} if store == "milvus" else {}
    back = Index.load(tmp_path / "idx", encoder=HashingEncoder(), **load_options)
    assert back.search("birds sing", k=1, where={"lang": "en"})[0].doc_id == "birds"
    assert "cats" not in {h.doc_id for h in back.search("why do cats purr", k=10)}


def test_with_the_real_model_meaning_beats_shared_words(minilm):
    docs = [
        Document("a", "The feline dozed on the sofa all afternoon."),
        Document("b", "A cat alarm clock sat on my desk."),
    ]
    index = Index.build(minilm, docs + DOCS[1:3])
    assert index.search("a sleeping kitty", k=1)[0].doc_id == "a"


CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from embedlab.data.corpus import Document
    from embedlab.index.index import Index
    from tests.fakes import HashingEncoder

    index = Index.load(sys.argv[1], encoder=HashingEncoder(dim=64))
    for n in range(10_000):
        index.add([Document(f"extra-{n}", f"saved round {n}")])
        index.save(sys.argv[1])
        print(n, flush=True)
    """
)


def test_a_save_killed_midway_leaves_a_loadable_index(tmp_path):
    directory = tmp_path / "idx"
    documents = [Document(f"d{i}", f"document number {i} about topic {i % 97}") for i in range(20_000)]
    Index.build(HashingEncoder(dim=64), documents, IndexConfig(batch_size=4096)).save(directory)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    for attempt in range(3):
        child = subprocess.Popen(
            [sys.executable, str(script), str(directory), str(ROOT)], stdout=subprocess.PIPE, text=True
        )
        # Wait until the child is writing a generation (its staging directory exists), then kill it without warning.
        deadline = time.monotonic() + 120
        while (
            not any(p.name.endswith(f".saving-{child.pid}") for p in directory.iterdir())
            and time.monotonic() < deadline
        ):
            time.sleep(0.001)
        time.sleep(0.02 * attempt)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        saved_rounds = len(child.stdout.read().split("\n")) - 1
        index = Index.load(directory, encoder=HashingEncoder(dim=64))
        assert index.documents >= 20_000 + saved_rounds
        assert index.search("12345", k=1, mode="bm25")[0].doc_id == "d12345"
    json.loads((directory / MANIFEST).read_text())  # the manifest itself is whole
