"""Reciprocal rank fusion by hand, and its invariants on random rankings."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab.rank_fusion import reciprocal_rank_fusion


def test_by_hand():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert [item for item, _ in fused] == ["a", "c", "b"]
    assert [score for _, score in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62])
    tied = reciprocal_rank_fusion([["x", "y"], ["y", "x"]])
    assert [item for item, _ in tied] == ["x", "y"] and tied[0][1] == tied[1][1]  # a tie keeps first appearance


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True), max_size=4), st.integers(0, 100))
def test_every_item_once_best_first_and_one_ranking_kept_as_is(rankings, k):
    fused = reciprocal_rank_fusion(rankings, k)
    assert sorted(item for item, _ in fused) == sorted({item for ranking in rankings for item in ranking})
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(fused))
    if len(rankings) == 1:
        assert [item for item, _ in fused] == rankings[0]
