"""Recall@5 of keyword, vector and hybrid search on the device-notes test set, per group.

The corpus and its questions are tests/helpers/device_notes.py: 65 passages of manuals and
notes in 13 files; 45 "paraphrase" questions asked in other words than the notes', and 38
"exact" ones whose answer hinges on a token (a fault code, a part number, a version, a pin,
an address, a name) among passages alike in every other word. all-MiniLM-L6-v2 makes the
vectors on the engine (tests/helpers/embedders.py). Prints a Markdown table per group and
overall, and with --misses the questions each mode missed. How hybrid search fuses:
benchmarks/fusion_choice.py.

    python benchmarks/retrieval_recall.py [--k 5] [--misses]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.device_notes import QUESTION_GROUPS, QUESTIONS, recall, write_notes  # noqa: E402
from helpers.embedders import minilm_model  # noqa: E402

from edge_reason.reasoning.retrieval import SEARCH_MODES, DocumentStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    args = parser.parse_args()
    missed_by: dict[tuple[str, str], list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        docs = write_notes(Path(tmp, "notes"))
        with DocumentStore(Path(tmp, "notes.db"), embedding=minilm_model()) as store:
            store.index_folder(docs)
            print(f"{len(store)} passages, {len(QUESTIONS)} questions, recall@{args.k}")
            for group, questions in {**QUESTION_GROUPS, "overall": QUESTIONS}.items():
                print(f"\n{group} ({len(questions)} questions):\n")
                print(f"| mode | recall@{args.k} | found | ms per query |")
                print("|---|---:|---:|---:|")
                for mode in ("keyword", "vector", "hybrid"):
                    assert mode in SEARCH_MODES
                    start = time.perf_counter()
                    share, missed = recall(store, mode, args.k, questions)
                    ms = (time.perf_counter() - start) * 1000 / len(questions)
                    found = f"{len(questions) - len(missed)}/{len(questions)}"
                    print(f"| {mode} | {share:.2f} | {found} | {ms:.1f} |")
                    missed_by[group, mode] = missed
    if args.misses:
        for (group, mode), missed in missed_by.items():
            if group != "overall":
                print(f"\n{group}, {mode} missed:", *(f"  {q}" for q in missed), sep="\n")


if __name__ == "__main__":
    main()
