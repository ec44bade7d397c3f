"""How hybrid search fuses its rankings, chosen on half the questions and measured on the other.

Ranks every question of tests/helpers/device_notes.py both ways once (keyword: BM25; vector:
all-MiniLM-L6-v2), then fuses them offline for every setting of the grid: the keyword
ranking's weight (the vector ranking's is 1), the RRF constant and how deep each ranking is
read. Each group ("paraphrase", "exact") is split by position: the setting chosen on the
even-numbered questions is reported on the odd ones, and the reverse. A setting is chosen for
its worst group's margin over that group's better single mode, then its overall recall, then
its overall recall at 3 and at 1, then for reading the rankings deepest.

    python benchmarks/fusion_choice.py [--k 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.device_notes import QUESTION_GROUPS, write_notes  # noqa: E402
from helpers.embedders import minilm_model  # noqa: E402

from edge_reason.reasoning.rank_fusion import (  # noqa: E402
    HYBRID_RRF_K,
    KEYWORD_WEIGHT,
    VECTOR_WEIGHT,
    reciprocal_rank_fusion,
)
from edge_reason.reasoning.retrieval import FUSION_DEPTH, DocumentStore  # noqa: E402

KEYWORD_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5, 2.0)
RRF_CONSTANTS = (1, 5, 10, 20, 30, 60, 100)
DEPTHS = (3, 5, 10, 20, 50)
# Ties are broken by the recall at these smaller k (3: what ask puts in the prompt), then by
# the deeper rankings.
TIE_BREAK_KS = (3, 1)
Setting = tuple[float, int, int, int]  # keyword weight, RRF constant, keyword and vector depth
PRODUCT: Setting = (KEYWORD_WEIGHT / VECTOR_WEIGHT, HYBRID_RRF_K, FUSION_DEPTH, FUSION_DEPTH)
# One question: its group, its keyword and vector rankings (passage keys) and its answer's key.
Ranked = tuple[str, list[str], list[str], str]


def rank_questions(store: DocumentStore, depth: int) -> list[Ranked]:
    """Every question's keyword and vector rankings, ``depth`` deep, and its answer."""
    ranked = []
    for group, questions in QUESTION_GROUPS.items():
        for question, answer in questions:
            keyword, vector = (
                [f"{p.source}#{p.ref}" for p in store.search(question, depth, mode=mode)]
                for mode in ("keyword", "vector")
            )
            everything = store.search(question, len(store), mode="vector")
            key = next(f"{p.source}#{p.ref}" for p in everything if answer in p.text)
            ranked.append((group, keyword, vector, key))
    return ranked


def found(item: Ranked, setting: Setting | str, k: int) -> bool:
    """Whether ``setting`` (or "keyword", "vector" alone) puts the answer in the first k."""
    _, keyword, vector, answer = item
    if setting == "keyword":
        return answer in keyword[:k]
    if setting == "vector":
        return answer in vector[:k]
    weight, constant, keyword_depth, vector_depth = setting
    fused = reciprocal_rank_fusion(
        [keyword[:keyword_depth], vector[:vector_depth]], constant, [weight, 1.0]
    )
    return answer in [key for key, _ in fused[:k]]


def recalls(items: list[Ranked], setting: Setting | str, k: int) -> dict[str, float]:
    """Recall per group and overall."""
    shares = {}
    for group in [*QUESTION_GROUPS, "overall"]:
        chosen = [i for i in items if group in ("overall", i[0])]
        shares[group] = sum(found(i, setting, k) for i in chosen) / len(chosen)
    return shares


def choose(items: list[Ranked], k: int) -> Setting:
    singles = [recalls(items, mode, k) for mode in ("keyword", "vector")]
    best_single = {g: max(s[g] for s in singles) for g in QUESTION_GROUPS}

    def merit(setting: Setting) -> tuple:
        share = recalls(items, setting, k)
        worst_margin = min(share[g] - best_single[g] for g in QUESTION_GROUPS)
        closer = [recalls(items, setting, n)["overall"] for n in TIE_BREAK_KS if n < k]
        return (round(worst_margin, 9), share["overall"], *closer, *setting[2:])

    grid = itertools.product(KEYWORD_WEIGHTS, RRF_CONSTANTS, DEPTHS, DEPTHS)
    return max(grid, key=merit)


def table(items: list[Ranked], rows: dict[str, Setting | str], k: int) -> str:
    lines = [
        f"| fusion | {' | '.join(QUESTION_GROUPS)} | overall |",
        "|---|" + "---:|" * (len(QUESTION_GROUPS) + 1),
    ]
    for name, setting in rows.items():
        share = recalls(items, setting, k)
        cells = []
        for group in [*QUESTION_GROUPS, "overall"]:
            n = sum(group in ("overall", i[0]) for i in items)
            cells.append(f"{share[group]:.2f} ({round(share[group] * n)}/{n})")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def by_constant_and_weight(items: list[Ranked], k: int) -> str:
    """Recall per group for a few constants and weights, both rankings read deepest."""
    weights = [w for w in KEYWORD_WEIGHTS if 0.2 <= w <= 1.0]
    lines = [
        f"| constant | {' | '.join(str(w) for w in weights)} |",
        "|---:|" + "---:|" * len(weights),
    ]
    for constant in (1, 5, 10, 60):
        cells = []
        for weight in weights:
            share = recalls(items, (weight, constant, max(DEPTHS), max(DEPTHS)), k)
            cells.append(" / ".join(f"{share[g]:.2f}" for g in QUESTION_GROUPS))
        lines.append(f"| {constant} | {' | '.join(cells)} |")
    return "\n".join(lines)


def describe(setting: Setting) -> str:
    weight, constant, keyword_depth, vector_depth = setting
    return f"weights {weight}:1, k={constant}, depths {keyword_depth}/{vector_depth}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with DocumentStore(Path(tmp, "notes.db"), embedding=minilm_model()) as store:
            store.index_folder(write_notes(Path(tmp, "notes")))
            items = rank_questions(store, max(DEPTHS))
    # every group split in two by position, so that each half holds both kinds of question
    halves = {"even": [], "odd": []}
    for group in QUESTION_GROUPS:
        in_group = [i for i in items if i[0] == group]
        halves["even"] += in_group[0::2]
        halves["odd"] += in_group[1::2]
    baseline: dict[str, Setting | str] = {
        "keyword": "keyword",
        "vector": "vector",
        "RRF 1:1, k=60, depths 50/50 (before)": (1.0, 60, 50, 50),
        f"{describe(PRODUCT)} (hybrid search now)": PRODUCT,
    }
    for tuned, held_out in (("even", "odd"), ("odd", "even")):
        chosen = choose(halves[tuned], args.k)
        rows = {**baseline, f"chosen on {tuned}: {describe(chosen)}": chosen}
        print(f"\nChosen on the {tuned} questions, recall@{args.k} on the {held_out} ones:\n")
        print(table(halves[held_out], rows, args.k))
    print(f"\nAll {len(items)} questions, recall@{args.k}:\n")
    print(table(items, baseline, args.k))
    print(
        f"\nAll questions, recall@{args.k} (paraphrase / exact) by constant and keyword weight:\n"
    )
    print(by_constant_and_weight(items, args.k))


if __name__ == "__main__":
    main()
