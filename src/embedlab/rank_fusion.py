"""Reciprocal rank fusion: one ranking from several, by rank alone, so BM25 scores and cosines need no common scale.

Hybrid index search and the fused retrieval evaluation both rank by it.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # Cormack et al. 2009: damps the weight of the very top ranks so no single ranking dominates


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Each item scores the sum over rankings of 1 / (k + its rank there), rank from 1; best first, ties in
    order of first appearance."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])
