"""Reciprocal rank fusion: one ranking out of several (keyword and vector search).

An item's fused score is the sum, over the rankings that hold it, of
``weight / (RRF_K + rank)`` with ranks from 1 (Cormack, Clarke and Buettcher, SIGIR 2009).
Only ranks count, so BM25 scores and cosine similarities need no common scale. ``RRF_K = 60``,
the paper's constant and the default, keeps the first few places of one ranking from
outweighing an item both rankings hold; hybrid search weights its two rankings and puts its
weight on the first places instead (``HYBRID_RRF_K``, below).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60
# Hybrid search's fusion (retrieval.py), chosen by benchmarks/fusion_choice.py on half of the
# test questions and measured on the other half (docs/retrieval.md, "Fusion"). Vector search
# finds answers asked in other words, keyword search those that hinge on an exact token (a
# fault code, a part number) but puts other passages sharing the question's words first when
# it is asked in other words. Constant 1 and weight 0.4: keyword search's first passage scores
# 0.4 / 2 = 0.2, as much as the vector ranking's fourth (1 / 5), so it stays near the top even
# when the encoder blurs its token, while its third (0.1, the vector's ninth) no longer pushes
# the vector ranking's first three out, as it did at 1:1 with 60.
HYBRID_RRF_K = 1
KEYWORD_WEIGHT = 0.4
VECTOR_WEIGHT = 1.0
Item = TypeVar("Item", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Item]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[Item, float]]:
    """Every item of ``rankings`` (each best first) with its fused score, best first; ties
    go to the item with the better best rank, then to the earlier ranking's order.
    ``weights``: one per ranking (by default 1 each), what a place in it is worth."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings: give one each")
    if any(not weight >= 0 for weight in weights):
        raise ValueError(f"the weights must be numbers >= 0, got {list(weights)}")
    scores: dict[Item, float] = {}
    best: dict[Item, tuple[int, int]] = {}
    for which, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best[item] = min(best.get(item, (rank, which)), (rank, which))
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))
