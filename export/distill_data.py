"""Training data for distillation: reasoning traces read from a file, packed into token blocks.

A data file is plain text (one trace per non-empty line) or JSON Lines (.jsonl)
whose records carry "text", or "question" and "answer" (the GSM8K layout).
For sequence-level distillation the same file gives prompts for the teacher:
a record's "question" (or "prompt"), else its whole text.

Packing: every trace is tokenized, followed by an end-of-sequence token, and
the concatenation is cut into blocks of seq_len + 1 tokens (inputs and their
shifted targets), so no compute goes to padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..json_lines import json_objects


@dataclass(frozen=True)
class Record:
    """One entry of a data file: the full trace, and the prompt a teacher would continue."""

    text: str
    prompt: str


def read_records(path: Path) -> list[Record]:
    """Every record of a text or JSONL data file; errors name the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the data file does not exist")
    with path.open(encoding="utf-8") as f:
        if path.suffix == ".jsonl":
            records = [_json_record(raw, where) for where, raw in json_objects(f, str(path))]
        else:
            records = [Record(t, t) for t in (line.rstrip("\n") for line in f) if t.strip()]
    if not records:
        raise ValueError(f"{path}: the data file has no traces (it is empty or blank)")
    return records


def _json_record(raw: dict[str, Any], where: str) -> Record:
    for key in ("text", "question", "answer", "prompt"):
        if key in raw and not isinstance(raw[key], str):
            raise ValueError(f"{where}: field {key!r} must be a string")
    if "question" in raw and "answer" in raw:
        return Record(f"{raw['question']}\n{raw['answer']}", raw["question"])
    if "text" in raw:
        return Record(raw["text"], raw.get("prompt", raw["text"]))
    raise ValueError(f"{where}: needs a 'text' field, or 'question' and 'answer'")


def pack(traces: list[list[int]], eos_id: int, seq_len: int, where: str) -> np.ndarray:
    """int64 [blocks, seq_len + 1]: the traces end to end, each closed by eos_id."""
    stream = np.fromiter((t for trace in traces for t in (*trace, eos_id)), dtype=np.int64)
    blocks = stream.size // (seq_len + 1)
    if blocks == 0:
        raise ValueError(
            f"{where}: {stream.size} tokens of data, fewer than one block of "
            f"seq_len + 1 = {seq_len + 1}: give more data or a smaller --seq-len"
        )
    return stream[: blocks * (seq_len + 1)].reshape(blocks, seq_len + 1)


class BlockSchedule:
    """Which blocks each step trains on: a fresh seeded shuffle every epoch.

    The order is a pure function of (seed, step), so resuming at a step
    resumes at the same place in the data without saving an iterator.
    """

    def __init__(self, blocks: int, batch_size: int, seed: int) -> None:
        self.blocks = blocks
        self.batch_size = batch_size
        self.seed = seed
        self._epoch = -1
        self._order = np.empty(0, dtype=np.int64)

    def samples_before(self, step: int, processes: int) -> int:
        """Blocks drawn, over all processes, before `step` (the data position)."""
        return step * self.batch_size * processes

    def batch(self, step: int, process: int, processes: int) -> np.ndarray:
        """Block indices for one process at one step (processes draw disjoint blocks)."""
        first = self.samples_before(step, processes) + process * self.batch_size
        return np.array([self._block(i) for i in range(first, first + self.batch_size)])

    def _block(self, sample: int) -> int:
        epoch, offset = divmod(sample, self.blocks)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.blocks)
            self._epoch = epoch
        return int(self._order[offset])
