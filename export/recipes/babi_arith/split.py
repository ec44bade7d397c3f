"""Data preparation: the training and validation splits, carved from the training files.

The last ``validation_fraction`` of each bAbI file's stories (task 3: of each of its two
files) and of the addition examples is held out and never trained on. Whole stories are
held out, so no validation question shares a story with a training one. The manifest
records what was taken from where: file, sha256, and the story ranges of each split.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_reason.reasoning.datasets import Problem

from .addition import Addition, read_additions
from .documents import (
    Document,
    addition_document,
    addition_problem,
    story_document,
    write_documents,
)
from .settings import DataSettings
from .stories import Story, read_stories

BABI_FOLDER = Path("babi") / "train"
TRAIN_DOCUMENTS = "train.jsonl"
VALIDATION_DOCUMENTS = "validation.jsonl"
VALIDATION_PROBLEMS = "validation_problems.jsonl"  # the reasoning layer's jsonl format
MANIFEST = "manifest.json"
ATTRIBUTION = {
    "babi": "bAbI 20 QA tasks v1.2, Weston et al. 2015, CC BY 3.0 (babi/LICENSE.txt)",
    "arithmetic": "Teaching Arithmetic to Small Transformers, Lee et al. 2023, MIT "
    "(arithmetic/LICENSE)",
}
_TASK_NUMBER = re.compile(r"qa(\d+)_")


@dataclass(frozen=True)
class Split:
    train: list[Document]
    validation: list[Document]
    problems: list[dict[str, Any]]  # validation questions for the Reasoner
    manifest: dict[str, Any]


def babi_files(data_root: Path) -> list[Path]:
    """The bAbI training files in task order; every task 1-20 must be present."""
    folder = data_root / BABI_FOLDER
    files = sorted(folder.glob("qa*_train*.txt"), key=lambda p: (_task_number(p), p.name))
    missing = sorted(set(range(1, 21)) - {_task_number(p) for p in files})
    if missing:
        raise FileNotFoundError(f"{folder}: no training file for bAbI task(s) {missing}")
    return files


def _task_number(path: Path) -> int:
    found = _TASK_NUMBER.match(path.name)
    if found is None:
        raise ValueError(f"{path}: a bAbI file name starts with qaN_")
    return int(found.group(1))


def carve(items: list[Any], fraction: float) -> int:
    """Where the held-out tail starts: at least one item is held out, one kept."""
    if len(items) < 2:
        raise ValueError(f"{len(items)} item(s) cannot be split into training and validation")
    return min(len(items) - 1, len(items) - max(1, math.ceil(fraction * len(items))))


def split_data(data_root: Path, settings: DataSettings) -> Split:
    train: list[Document] = []
    validation: list[Document] = []
    problems: list[dict[str, Any]] = []
    babi_entries = []
    for path in babi_files(data_root):
        stories = read_stories(path)
        if settings.stories_per_file:
            stories = stories[: settings.stories_per_file]
        cut = carve(stories, settings.validation_fraction)
        train += [story_document(s) for s in stories[:cut]]
        held_out: list[Story] = stories[cut:]
        validation += [story_document(s) for s in held_out]
        questions = [p for s in held_out for p in s.problems()]
        problems += [_problem_record(p) for p in questions]
        babi_entries.append(
            _file_entry(path, data_root, len(stories), cut)
            | {"validation_questions": len(questions)}
        )
    addition_path = data_root / settings.addition_file
    additions = read_additions(addition_path)
    if settings.addition_examples:
        additions = additions[: settings.addition_examples]
    cut = carve(additions, settings.validation_fraction)
    train += [addition_document(a) for a in additions[:cut]]
    held: list[Addition] = additions[cut:]
    validation += [addition_document(a) for a in held]
    problems += [_problem_record(addition_problem(a)) for a in held]
    manifest = {
        "validation_fraction": settings.validation_fraction,
        "slice": {
            "stories_per_file": settings.stories_per_file or "all",
            "addition_examples": settings.addition_examples or "all",
        },
        "babi": babi_entries,
        "addition": _file_entry(addition_path, data_root, len(additions), cut)
        | {"training_digits": sorted({a.digits for a in additions[:cut]})},
        "documents": {"train": len(train), "validation": len(validation)},
        "validation_problems": len(problems),
        "attribution": ATTRIBUTION,
    }
    return Split(train, validation, problems, manifest)


def write_split(split: Split, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_documents(out / TRAIN_DOCUMENTS, split.train)
    write_documents(out / VALIDATION_DOCUMENTS, split.validation)
    (out / VALIDATION_PROBLEMS).write_text(
        "".join(json.dumps(p) + "\n" for p in split.problems), encoding="utf-8"
    )
    (out / MANIFEST).write_text(json.dumps(split.manifest, indent=1) + "\n", encoding="utf-8")


def _file_entry(path: Path, root: Path, items: int, cut: int) -> dict[str, Any]:
    return {
        "file": path.relative_to(root).as_posix(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "items": items,
        "train": [0, cut],  # [start, end) in file order
        "validation": [cut, items],
    }


def _problem_record(problem: Problem) -> dict[str, Any]:
    record = {
        "question": problem.question,
        "answer": problem.answer,
        "task": problem.task,
        "where": problem.where,
    }
    if problem.context is not None:
        record["context"] = problem.context
        record["supporting"] = list(problem.supporting)
    return record
