"""Recall@5 of keyword, vector and hybrid search on the device-notes test set.

The corpus and its questions are tests/helpers/device_notes.py (31 passages of manuals and
notes in 7 files; 45 questions asked in other words than the notes'). all-MiniLM-L6-v2 makes
the vectors (tests/helpers/embedders.py: through sentence-transformers until the engine loads
encoders). Prints a Markdown table, and with --misses the questions each mode missed.

    python benchmarks/retrieval_recall.py [--k 5] [--misses]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.device_notes import QUESTIONS, recall, write_notes  # noqa: E402
from helpers.embedders import minilm_model  # noqa: E402

from edge_reason.reasoning.retrieval import SEARCH_MODES, DocumentStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = write_notes(Path(tmp, "notes"))
        with DocumentStore(Path(tmp, "notes.db"), embedding=minilm_model()) as store:
            store.index_folder(docs)
            print(f"{len(store)} passages, {len(QUESTIONS)} questions, recall@{args.k}\n")
            print(f"| mode | recall@{args.k} | found | ms per query |")
            print("|---|---:|---:|---:|")
            missed_by = {}
            for mode in ("keyword", "vector", "hybrid"):
                assert mode in SEARCH_MODES
                start = time.perf_counter()
                share, missed = recall(store, mode, args.k)
                ms = (time.perf_counter() - start) * 1000 / len(QUESTIONS)
                found = len(QUESTIONS) - len(missed)
                print(f"| {mode} | {share:.2f} | {found}/{len(QUESTIONS)} | {ms:.1f} |")
                missed_by[mode] = missed
    if args.misses:
        for mode, missed in missed_by.items():
            print(f"\n{mode} missed:", *(f"  {q}" for q in missed), sep="\n")


if __name__ == "__main__":
    main()
