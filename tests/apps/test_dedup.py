"""Near-duplicate detection: chunked pair finding against brute force, union-find groups, files and MRPC."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.apps.dedup import (
    DedupConfig,
    deduplicate,
    evaluate_dedup_on_pairs,
    find_duplicate_pairs,
    group_duplicates,
    read_rows,
    unit_vectors,
    write_rows,
)
from embedlab.data.labeled import LabeledPairs
from embedlab.errors import EmbedlabError
from tests.conftest import real_data
from tests.fakes import LookupEncoder
from tests.files import write_jsonl


def brute_force_pairs(vectors: np.ndarray, threshold: float, k: int) -> dict[tuple[int, int], float]:
    """Every pair over the threshold where one side is among the other's k best (score desc, row asc), from N x N."""
    scores = vectors @ vectors.T
    pairs = {}
    for row in range(len(vectors)):
        others = [other for other in np.lexsort((np.arange(len(vectors)), -scores[row])) if other != row][:k]
        for other in others:
            if scores[row, other] >= threshold:
                pairs[(min(row, other), max(row, other))] = float(scores[row, other])
    return pairs


def planted(n: int, dim: int, groups: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors where `groups` rows each get 1-3 noisy copies elsewhere."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    targets = rng.permutation(n)
    at = 0
    for source in range(groups):
        for _ in range(int(rng.integers(1, 4))):
            vectors[targets[at + groups]] = vectors[targets[source]] + 0.05 * rng.standard_normal(dim)
            at += 1
    return unit_vectors(vectors)


def test_chunked_pairs_equal_brute_force_on_5k_vectors():
    vectors = planted(5000, 48, groups=300)
    found = find_duplicate_pairs(vectors, threshold=0.9, k=3, chunk_size=700)
    expected = brute_force_pairs(vectors, 0.9, 3)
    assert 300 <= len(expected) and [(p.first, p.second) for p in found] == sorted(expected)
    assert np.allclose([p.score for p in found], [expected[key] for key in sorted(expected)], atol=1e-5)


def test_k_limits_neighbours_and_self_is_skipped_among_exact_copies():
    vectors = np.tile(np.eye(4, dtype=np.float32)[:1], (6, 1))  # six identical rows
    assert len(find_duplicate_pairs(vectors, 0.99, k=5)) == 15  # every pair
    pairs = find_duplicate_pairs(vectors, 0.99, k=1, chunk_size=2)
    assert {(p.first, p.second) for p in pairs} == {(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)}
    assert find_duplicate_pairs(vectors[:1], 0.5, k=3) == []


def test_hnsw_store_finds_the_planted_pairs():
    vectors = planted(600, 32, groups=40, seed=1)
    exact = find_duplicate_pairs(vectors, 0.9, k=5)
    assert [p[:2] for p in find_duplicate_pairs(vectors, 0.9, k=5, store="faiss-hnsw")] == [p[:2] for p in exact]


def test_union_find_merges_chains_and_keeps_the_first_row_as_root():
    groups = group_duplicates(8, [(5, 6), (3, 5), (1, 7), (6, 3), (0, 3)])
    assert groups == [[0, 3, 5, 6], [1, 7], [2], [4]]
    assert group_duplicates(0, []) == []
    with pytest.raises(EmbedlabError, match="outside 0..2"):
        group_duplicates(3, [(0, 3)])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))
    )
)
def test_groups_partition_rows_and_match_connectivity(case):
    n, pairs = case
    groups = group_duplicates(n, pairs)
    assert sorted(row for group in groups for row in group) == list(range(n))
    assert [group[0] for group in groups] == sorted(group[0] for group in groups)
    group_of = {row: number for number, group in enumerate(groups) for row in group}
    assert all(group_of[a] == group_of[b] for a, b in pairs)
    # Minimal: each group is connected by the pairs inside it (a flood fill from its first row reaches all).
    for group in groups:
        reached, frontier = {group[0]}, [group[0]]
        while frontier:
            row = frontier.pop()
            for a, b in pairs:
                for x, y in ((a, b), (b, a)):
                    if x == row and y not in reached:
                        reached.add(y)
                        frontier.append(y)
        assert reached == set(group)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(1, 6), st.integers(1, 25), st.integers(0, 10**6))
def test_chunked_pairs_equal_brute_force_property(n, k, chunk_size, seed):
    rng = np.random.default_rng(seed)
    # Few distinct directions, so many pairs pass the threshold and k really limits them.
    vectors = unit_vectors(rng.standard_normal((4, 8))[rng.integers(4, size=n)] + 0.3 * rng.standard_normal((n, 8)))
    found = find_duplicate_pairs(vectors, 0.8, k, chunk_size=chunk_size)
    expected = brute_force_pairs(vectors, 0.8, k)
    # A score within rounding of the threshold may land on either side; such pairs are excused.
    borderline = {key for key, score in expected.items() if abs(score - 0.8) < 1e-5}
    assert {p[:2] for p in found} - borderline == set(expected) - borderline


TEXTS = [
    "The cat sat on the mat.",
    "A cat was sitting on the mat.",
    "Stocks fell sharply.",
    "The cat sat on a mat.",
    "Markets dropped steeply.",
    "Rain is expected tomorrow.",
]
VECTORS = {
    TEXTS[0]: [1, 0, 0, 0],
    TEXTS[1]: [0.95, 0.31, 0, 0],
    TEXTS[2]: [0, 0, 1, 0],
    TEXTS[3]: [0.99, 0.14, 0, 0],
    TEXTS[4]: [0, 0, 0.93, 0.37],
    TEXTS[5]: [0, 0, 0, 1],
}


def test_deduplicate_keeps_first_occurrences_and_reports_groups():
    encoder = LookupEncoder(VECTORS)
    result = deduplicate(encoder, TEXTS, DedupConfig(threshold=0.9, k=3))
    assert result.kept_rows == [0, 2, 5] and result.kept == [TEXTS[0], TEXTS[2], TEXTS[5]]
    report = result.report
    assert report["counts"] == {"texts": 6, "kept": 3, "removed": 3, "groups": 2, "pairs": 4}
    first, second = report["groups"]
    assert first["kept"] == {"row": 0, "text": TEXTS[0]} and [d["row"] for d in first["duplicates"]] == [1, 3]
    assert first["duplicates"][0]["score"] == pytest.approx(0.95 / np.hypot(0.95, 0.31), abs=1e-6)
    assert second["kept"]["row"] == 2 and second["duplicates"][0]["row"] == 4
    assert report["settings"]["threshold"] == 0.9 and report["settings"]["model"] == "lookup"
    json.dumps(report)  # JSON-ready as it is


def test_deduplicate_keeps_rows_beside_texts():
    rows = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    result = deduplicate(LookupEncoder(VECTORS), TEXTS, DedupConfig(threshold=0.9), rows=rows)
    assert [row["id"] for row in result.kept] == [0, 2, 5]
    with pytest.raises(EmbedlabError, match="6 texts but 2 rows"):
        deduplicate(LookupEncoder(VECTORS), TEXTS, rows=rows[:2])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"threshold": 1.5}, "threshold must be a cosine"),
        ({"threshold": float("nan")}, "threshold must be a cosine"),
        ({"k": 0}, "k, batch_size and chunk_size must be >= 1"),
        ({"store": "milvus"}, "store must be one of exact, faiss-hnsw"),
    ],
)
def test_bad_settings_fail_in_one_line(options, message):
    with pytest.raises(EmbedlabError, match=message):
        DedupConfig(**options)


def test_empty_input_fails():
    with pytest.raises(EmbedlabError, match="no texts to deduplicate"):
        deduplicate(LookupEncoder({}), [])


def test_rows_round_trip_through_txt_and_jsonl(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x ü", "extra": [1]}, {"id": "b", "text": "y"}])
    texts, rows = read_rows(source)
    assert texts == ["x ü", "y"] and rows[0] == {"id": "a", "text": "x ü", "extra": [1]}
    write_rows(rows[1:], tmp_path / "out.jsonl")
    assert read_rows(tmp_path / "out.jsonl")[1] == rows[1:]
    (tmp_path / "in.txt").write_text("one\n\nthree\n")
    texts, rows = read_rows(tmp_path / "in.txt")
    assert texts == rows == ["one", "", "three"]
    write_rows(rows, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "one\n\nthree\n"
    with pytest.raises(EmbedlabError, match="need a .jsonl name"):
        write_rows([{"text": "x"}], tmp_path / "out.txt")


def test_evaluate_on_pairs_tunes_on_train_and_scores_test():
    table = {"a": [1, 0], "a2": [0.98, 0.2], "b": [0, 1], "b2": [0.6, 0.8], "c": [0.7, 0.7], "d": [-1, 0.1]}
    train = LabeledPairs(["a", "b", "c"], ["a2", "b2", "d"], [1, 0, 0], name="toy/train")
    # a-a2 is a true duplicate (found); b-b2 is one too but scores below the tuned threshold; c-d is no duplicate.
    test = LabeledPairs(["a", "b", "c"], ["a2", "b2", "d"], [1, 1, 0], name="toy/test")
    result = evaluate_dedup_on_pairs(LookupEncoder(table), train, test, DedupConfig(k=2))
    metrics = result.metrics
    assert result.task == "dedup" and result.dataset == "toy/test" and result.main_metric == "f1"
    assert 0.8 < metrics["threshold"] < 0.98 and metrics["train_f1"] == 1.0
    assert (metrics["precision"], metrics["recall"]) == (1.0, 0.5) and metrics["f1"] == pytest.approx(2 / 3)
    assert (metrics["group_precision"], metrics["group_recall"]) == (1.0, 0.5)


def test_mrpc_threshold_transfers_to_test(minilm):
    from embedlab.data.labeled import read_labeled_pairs

    def head(pairs: LabeledPairs, n: int) -> LabeledPairs:
        return LabeledPairs(pairs.sentence1[:n], pairs.sentence2[:n], pairs.label[:n], name=pairs.name)

    train = head(read_labeled_pairs(real_data("pairs", "mrpc", "train.jsonl")), 300)
    test = head(read_labeled_pairs(real_data("pairs", "mrpc", "test.jsonl")), 300)
    metrics = evaluate_dedup_on_pairs(minilm, train, test).metrics
    # Two thirds of MRPC pairs are paraphrases, so the F1-best threshold is low and F1 near 0.8.
    assert 0.4 < metrics["threshold"] < 0.9 and metrics["f1"] > 0.75 and metrics["group_f1"] > 0.75
