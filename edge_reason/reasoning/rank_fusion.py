"""Reciprocal rank fusion: one ranking out of several (keyword and vector search).

An item's fused score is the sum, over the rankings that hold it, of ``1 / (RRF_K + rank)``
with ranks from 1 (Cormack, Clarke and Buettcher, SIGIR 2009). Only ranks count, so BM25
scores and cosine similarities need no common scale; ``RRF_K = 60``, the paper's constant,
keeps the first few places of one ranking from outweighing an item both rankings hold.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60
Item = TypeVar("Item", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Item]], k: int = RRF_K
) -> list[tuple[Item, float]]:
    """Every item of ``rankings`` (each best first) with its fused score, best first; ties
    go to the item with the better best rank, then to the earlier ranking's order."""
    scores: dict[Item, float] = {}
    best: dict[Item, tuple[int, int]] = {}
    for which, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, (rank, which)), (rank, which))
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))
