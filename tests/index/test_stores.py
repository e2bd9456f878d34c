"""Every vector store against one contract, the approximate ones' recall against exact search, and filter semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError
from embedlab.index import quantized
from embedlab.index.registry import create_store, load_store
from embedlab.index.store import matches

KINDS = ["exact", "faiss-hnsw", "faiss-ivfpq", "milvus", "int8", "binary"]
DIM = 32
N = 300
LANGS = ("en", "de", "fr")


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    """Gaussian clusters, so that neighbours mean something (sign bits of pure noise carry little)."""
    return unit_rows(centers[rng.integers(len(centers), size=n)] + rng.normal(size=(n, centers.shape[1])))


def new_store(kind: str, tmp_path: Path, dim: int = DIM, **options):
    if kind == "milvus":
        options["workdir"] = tmp_path / "milvus-work"
    if kind == "faiss-ivfpq":
        options.setdefault("points_per_centroid", 1)  # train on the small contract set instead of searching exactly
    return create_store(kind, dim, **options)


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def filled(kind: str, tmp_path: Path):
    vectors = unit_rows(np.random.default_rng(0).normal(size=(N, DIM)))
    store = new_store(kind, tmp_path)
    store.upsert([f"d{i}" for i in range(N)], vectors, [{"lang": LANGS[i % 3], "even": i % 2 == 0} for i in range(N)])
    return store, vectors


def ids_of(hits) -> list[list[str]]:
    return [[hit.id for hit in per_query] for per_query in hits]


def test_each_vector_finds_itself_first(filled) -> None:
    store, vectors = filled
    hits = store.search(vectors[:20], 5)
    assert len(store) == N
    assert [per_query[0].id for per_query in hits] == [f"d{i}" for i in range(20)]
    for per_query in hits:
        scores = [hit.score for hit in per_query]
        assert len(per_query) == 5 and scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(1.0, abs=1e-4)


def test_upsert_of_an_existing_id_replaces_it(filled) -> None:
    store, vectors = filled
    store.upsert(["d1"], vectors[7:8], [{"lang": "xx"}])
    assert len(store) == N
    assert {hit.id for hit in store.search(vectors[7], 2)[0]} == {"d1", "d7"}
    assert store.search(vectors[1], 1)[0][0].id != "d1"
    assert ids_of(store.search(vectors[7], 5, where={"lang": "xx"})) == [["d1"]]


def test_delete_removes_and_counts(filled) -> None:
    store, vectors = filled
    assert store.delete(["d0", "d5", "missing"]) == 2
    assert len(store) == N - 2
    assert not {"d0", "d5"} & set(ids_of(store.search(vectors[[0, 5]], 10))[0])
    assert store.search(vectors[6], 1)[0][0].id == "d6"


def test_metadata_filters(filled) -> None:
    store, vectors = filled
    hits = ids_of(store.search(vectors[:6], 10, where={"lang": "de"}))
    assert all(int(i[1:]) % 3 == 1 for per_query in hits for i in per_query)
    assert [per_query[0] for per_query in hits][1::3] == ["d1", "d4"]
    both = ids_of(store.search(vectors[:6], 10, where={"lang": ["de", "fr"], "even": True}))
    assert all(int(i[1:]) % 3 and int(i[1:]) % 2 == 0 for per_query in both for i in per_query)
    assert both[2][0] == "d2" and all(len(per_query) == 10 for per_query in both)
    assert store.search(vectors[:2], 3, where={"lang": "nl"}) == [[], []]


def test_save_and_load_keep_results_and_never_change_the_saved_copy(filled, kind: str, tmp_path: Path) -> None:
    store, vectors = filled
    before = store.search(vectors[:10], 5, where={"even": True})
    saved = tmp_path / "saved"
    saved.mkdir()
    store.save(saved)
    assert ids_of(store.search(vectors[:10], 5, where={"even": True})) == ids_of(before)
    options = {"workdir": tmp_path / "reopened"} if kind == "milvus" else {}
    loaded = load_store(kind, saved, DIM, **options)
    after = loaded.search(vectors[:10], 5, where={"even": True})
    assert ids_of(after) == ids_of(before)
    np.testing.assert_allclose([h.score for q in after for h in q], [h.score for q in before for h in q], atol=1e-5)
    loaded.upsert(["new"], vectors[:1])
    loaded.delete(["d3"])
    options = {"workdir": tmp_path / "again"} if kind == "milvus" else {}
    assert len(load_store(kind, saved, DIM, **options)) == N


def test_bad_input_raises(kind: str, tmp_path: Path) -> None:
    store = new_store(kind, tmp_path)
    good = unit_rows(np.ones((2, DIM)))
    nan = good.copy()
    nan[0, 0] = np.nan
    for ids, vectors in [(["a", "b"], good[:, :-1]), (["a", "b"], nan), (["a", "a"], good), (["a"], good)]:
        with pytest.raises(EmbedlabError):
            store.upsert(ids, vectors)
    store.upsert(["a", "b"], good)
    for queries, k in [(good, 0), (good[:, :-1], 1)]:
        with pytest.raises(EmbedlabError):
            store.search(queries, k)


def test_options_reach_the_config_also_when_loading_and_bad_ones_raise(tmp_path: Path) -> None:
    store = create_store("faiss-hnsw", DIM, ef_search=16)
    store.upsert(["a"], unit_rows(np.ones((1, DIM))))
    store.save(tmp_path)
    assert load_store("faiss-hnsw", tmp_path, DIM).config.ef_search == 16
    assert load_store("faiss-hnsw", tmp_path, DIM, ef_search=64).config.ef_search == 64
    with pytest.raises(EmbedlabError, match="holds a 'faiss-hnsw' store"):
        load_store("int8", tmp_path, DIM)
    for kind, options in [("faiss-hnsw", {"bogus": 1}), ("faiss-ivfpq", {"nprobe": 0}), ("int8", {"chunk_size": 0}),
                          ("milvus", {"metric": "L2"})]:
        with pytest.raises(EmbedlabError):
            create_store(kind, DIM, **options)


@pytest.mark.parametrize("kind", ["faiss-hnsw", "int8", "binary"])
def test_recall_at_10_against_exact_search(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(40, 384))
    docs, queries = clustered(rng, 2000, centers), clustered(rng, 100, centers)
    ids = [str(i) for i in range(len(docs))]
    exact, store = create_store("exact", 384), create_store(kind, 384)
    exact.upsert(ids, docs)
    store.upsert(ids, docs)
    truth, found = ids_of(exact.search(queries, 10)), ids_of(store.search(queries, 10))
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.9, f"{kind} recall@10 {recall:.3f}"


def test_ivfpq_searches_exactly_with_a_warning_until_it_can_train(tmp_path: Path) -> None:
    vectors = unit_rows(np.random.default_rng(1).normal(size=(N, DIM)))
    ids = [f"d{i}" for i in range(N)]
    store, exact = create_store("faiss-ivfpq", DIM), create_store("exact", DIM)
    store.upsert(ids, vectors)
    exact.upsert(ids, vectors)
    with pytest.warns(UserWarning, match="IVF-PQ needs"):
        assert store.search(vectors[:5], 7) == exact.search(vectors[:5], 7)


@pytest.mark.parametrize(("kind", "options"), [("faiss-hnsw", {"ef_search": 4}), ("faiss-ivfpq", {"nprobe": 1})])
def test_faiss_returns_k_hits_past_its_beam_or_probed_lists(kind: str, options: dict, tmp_path: Path) -> None:
    vectors = unit_rows(np.random.default_rng(4).normal(size=(N, DIM)))
    store = new_store(kind, tmp_path, **options)
    store.upsert([f"d{i}" for i in range(N)], vectors, [{"lang": LANGS[i % 3]} for i in range(N)])
    assert [len(per_query) for per_query in store.search(vectors[:3], 60)] == [60, 60, 60]
    assert [len(per_query) for per_query in store.search(vectors[:3], 30, where={"lang": "fr"})] == [30, 30, 30]


def test_milvus_filters_quote_strings_and_reject_other_names(tmp_path: Path) -> None:
    values = ['say "hi"', "back\\slash", "two\nlines", "it's", "tab\there", "ünï"]
    store = new_store("milvus", tmp_path, dim=4)
    vectors = unit_rows(np.random.default_rng(2).normal(size=(len(values) + 1, 4)))
    metadata = [{"s": value, "n": i} for i, value in enumerate(values)] + [{}]
    store.upsert([str(i) for i in range(len(vectors))], vectors, metadata)
    for i, value in enumerate(values):
        assert ids_of(store.search(vectors[0], 10, where={"s": value})) == [[str(i)]]
    assert {h.id for h in store.search(vectors[0], 10, where={"n": [1, "x", 2.0]})[0]} == {"1", "2"}
    for where in ({"bad name": 1}, {"id": "0"}, {"s": float("nan")}):
        with pytest.raises(EmbedlabError):
            store.search(vectors[0], 1, where=where)
    with pytest.raises(EmbedlabError):
        store.upsert(["x"], vectors[:1], [{"vector": 1}])


def test_embedded_milvus_flushes_once_after_writes_and_still_finds_them(tmp_path: Path, monkeypatch) -> None:
    store = new_store("milvus", tmp_path, dim=4)
    flushes = []
    flush = store.client.flush
    monkeypatch.setattr(store.client, "flush", lambda name: (flushes.append(name), flush(name)))
    vectors = unit_rows(np.random.default_rng(3).normal(size=(5, 4)))
    store.upsert([str(i) for i in range(5)], vectors)
    assert ids_of(store.search(vectors[1], 1)) == [["1"]] and len(flushes) == 1
    store.search(vectors[2], 1)
    assert len(flushes) == 1  # nothing written since
    assert store.delete(["1"]) == 1
    assert "1" not in {h.id for h in store.search(vectors[1], 5)[0]} and len(flushes) == 2


def test_quantized_sizes_and_memory_mapped_vectors_after_loading(tmp_path: Path) -> None:
    assert [quantized.memory_per_vector(kind, 384) for kind in ("exact", "int8", "binary")] == [1536, 384, 48]
    with pytest.raises(EmbedlabError):
        quantized.memory_per_vector("faiss-hnsw", 384)
    store = create_store("binary", DIM)
    store.upsert(["a", "b"], unit_rows(np.eye(2, DIM)))
    store.save(tmp_path)
    assert isinstance(load_store("binary", tmp_path, DIM).exact.vectors, np.memmap)


def reference_candidates(kind: str, store, queries: np.ndarray, wanted: int) -> list[set[int]]:
    """Each query's `wanted` best code rows by the plain numpy scores of the scan before the kernels (a full sort),
    widened by the rows tied with the last one, which either order may pick."""
    codec, codes = store._current_codes()
    if kind == "int8":
        scores = (codes.astype(np.float32) @ (queries * codec.step).T).T
    else:
        bits = np.unpackbits(codec.encode(queries)[:, None, :] ^ codes[None], axis=2)
        scores = -bits.sum(axis=2).astype(np.float32)
    cut = -np.sort(-scores, axis=1)[:, wanted - 1 : wanted]
    return [set(np.flatnonzero(row >= edge)) for row, edge in zip(scores, cut)]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["int8", "binary"]), st.integers(1, 300), st.sampled_from([5, 8, 32, 100]),
       st.integers(1, 40), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_scan_kernels_find_the_rows_plain_numpy_scores_rank_first(kind, n, dim, wanted, chunk_size, seed) -> None:
    rng = np.random.default_rng(seed)
    vectors, queries = unit_rows(rng.normal(size=(n, dim))), unit_rows(rng.normal(size=(3, dim)))
    store = create_store(kind, dim, chunk_size=chunk_size)
    store.upsert([str(i) for i in range(n)], vectors)
    wanted = min(wanted, n)
    found = store._scan(queries, np.arange(n), wanted)
    expected = reference_candidates(kind, store, queries, wanted)
    for rows, allowed in zip(found, expected):
        assert len(set(rows)) == wanted
        if kind == "binary":  # Hamming distances are exact: every row found is one plain numpy ranks first
            assert set(rows) <= allowed
        else:  # int8 products of a rounded query, refined by float32 scores: the same rows but for near ties
            assert len(set(rows) & allowed) >= wanted - 1


def test_int8_scan_finds_what_float32_code_scores_find_on_clustered_data() -> None:
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(20, 384))
    docs, queries = clustered(rng, 3000, centers), clustered(rng, 50, centers)
    store = create_store("int8", 384, chunk_size=1000)
    store.upsert([str(i) for i in range(len(docs))], docs)
    found = store._scan(queries, np.arange(len(docs)), 40)
    expected = reference_candidates("int8", store, queries, 40)
    assert np.mean([len(set(rows) & allowed) / 40 for rows, allowed in zip(found, expected)]) >= 0.995


def test_saved_codes_keep_their_format_so_earlier_stores_load(tmp_path: Path) -> None:
    """codes.npz keeps its format (int8 codes + low/step, or packed bits), so stores saved earlier still load."""
    rng = np.random.default_rng(6)
    vectors = unit_rows(rng.normal(size=(200, DIM)))
    for kind in ("int8", "binary"):
        store = create_store(kind, DIM, chunk_size=16_384)  # the old default, as saved settings carry it
        store.upsert([str(i) for i in range(200)], vectors)
        store.save(tmp_path / kind)
        with np.load(tmp_path / kind / quantized.CODES_FILE) as saved:
            assert saved["codes"].dtype == (np.int8 if kind == "int8" else np.uint8)
        loaded = load_store(kind, tmp_path / kind, DIM)
        assert loaded.config.chunk_size == 16_384
        assert ids_of(loaded.search(vectors[:5], 5)) == ids_of(store.search(vectors[:5], 5))


FIELD_VALUES = st.sampled_from(["a", "b", 1, 2, True])
METADATA = st.dictionaries(st.sampled_from(["x", "y"]), FIELD_VALUES, max_size=2)
WHERE = st.dictionaries(st.sampled_from(["x", "y"]), FIELD_VALUES | st.lists(FIELD_VALUES, max_size=3), max_size=2)


@settings(max_examples=40, deadline=None)
@given(st.lists(METADATA, min_size=1, max_size=30), WHERE, st.sampled_from(["exact", "int8"]),
       st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_results_are_sorted_unique_and_exactly_the_matching_rows(metadata, where, kind, k, seed) -> None:
    rng = np.random.default_rng(seed)
    vectors = unit_rows(rng.normal(size=(len(metadata), 8)))
    store = create_store(kind, 8)
    store.upsert([f"r{i}" for i in range(len(metadata))], vectors, metadata)
    matching = {f"r{i}" for i, meta in enumerate(metadata) if matches(meta, where)}
    hits = store.search(rng.normal(size=(2, 8)), k, where=where)
    for per_query in hits:
        ids, scores = [h.id for h in per_query], [h.score for h in per_query]
        assert scores == sorted(scores, reverse=True) and len(set(ids)) == len(ids) == min(k, len(matching))
        assert set(ids) <= matching
    everything = store.search(vectors[:1], len(metadata), where=where)[0]
    assert {h.id for h in everything} == matching


def test_matches_semantics() -> None:
    row = {"lang": "en", "n": 3}
    assert matches(row, None) and matches(row, {})
    assert matches(row, {"lang": "en", "n": [1, 3]})
    assert not matches(row, {"lang": ["de"]}) and not matches(row, {"missing": "x"}) and not matches(row, {"n": []})
