"""Reading evaluation data: bAbI story files, GSM8K solutions and generic JSONL questions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..json_lines import JsonLinesError, json_objects
from .errors import DataFormatError

DATA_FORMATS = ("babi", "gsm8k", "jsonl")

_BABI_LINE = re.compile(r"(?P<id>\d+) (?P<text>[^\t]*)(?:\t(?P<answer>[^\t]*)\t(?P<facts>[\d ]*))?")
_FINAL = re.compile(r"^####\s*(?P<value>.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One question with its gold answer.

    ``context`` is a story (bAbI: numbered lines), ``solution`` a worked chain when the data
    has one (GSM8K), ``supporting`` the story line ids the answer rests on (bAbI), ``task``
    a group name for per-task scores, and ``where`` the file and line it came from.
    """

    question: str
    answer: str
    where: str
    context: str | None = None
    solution: str | None = None
    supporting: tuple[int, ...] = ()
    task: str = ""

    @property
    def babi_chain(self) -> str:
        """The chain a bAbI model learns to write: its cited facts, then the answer."""
        facts = " ".join(str(i) for i in self.supporting)
        return f"Facts: {facts}.\nAnswer: {self.answer}"


def read_problems(path: str | Path, data_format: str) -> list[Problem]:
    """All problems in ``path``, read as ``data_format`` ("babi", "gsm8k" or "jsonl")."""
    readers = {"babi": read_babi, "gsm8k": read_gsm8k, "jsonl": read_jsonl}
    if data_format not in readers:
        raise ValueError(f"data format must be one of {DATA_FORMATS}, got {data_format!r}")
    return readers[data_format](path)


def babi_task(path: Path) -> str:
    """The task name of a bAbI file: ``qa1`` for ``qa1_single-supporting-fact_train.txt``."""
    return path.name.split("_", 1)[0]


def read_babi(path: str | Path) -> list[Problem]:
    """Every question of a bAbI file, each with the story statements before it (ids kept)."""
    path = Path(path)
    task = babi_task(path)
    problems: list[Problem] = []
    story: list[str] = []
    for number, line in _lines(path):
        found = _BABI_LINE.fullmatch(line.rstrip("\n"))
        if found is None:
            raise DataFormatError(f"{path}:{number}: not a bAbI line ('ID text[\\tanswer\\tids]')")
        line_id = int(found.group("id"))
        if line_id == 1:
            story = []
        if found.group("answer") is None:
            story.append(f"{line_id} {found.group('text').strip()}")
            continue
        facts = found.group("facts").split()
        problems.append(
            Problem(
                question=found.group("text").strip(),
                answer=found.group("answer").strip(),
                where=f"{path}:{number}",
                context="\n".join(story),
                supporting=tuple(int(f) for f in facts),
                task=task,
            )
        )
    return problems


def read_gsm8k(path: str | Path) -> list[Problem]:
    """GSM8K records (``question``, ``answer`` = worked solution ending in ``#### N``)."""
    problems = []
    for where, record in _json_records(Path(path), ("question", "answer")):
        final = _FINAL.search(record["answer"])
        if final is None:
            raise DataFormatError(f"{where}: the solution has no '#### N' final line")
        problems.append(
            Problem(
                question=record["question"],
                answer=final.group("value").replace(",", ""),
                where=where,
                solution=record["answer"],
            )
        )
    return problems


def read_jsonl(path: str | Path) -> list[Problem]:
    """Generic records: ``question`` and ``answer``, optional ``context`` and ``task``."""
    problems = []
    for where, record in _json_records(Path(path), ("question", "answer")):
        for key in ("context", "task"):
            if key in record and not isinstance(record[key], str):
                raise DataFormatError(f"{where}: {key!r} must be text")
        problems.append(
            Problem(
                question=record["question"],
                answer=record["answer"],
                where=where,
                context=record.get("context"),
                task=record.get("task", ""),
            )
        )
    return problems


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read ({error})") from None


def _lines(path: Path) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(_text_lines(path), start=1) if line.strip()]


def _json_records(path: Path, required: tuple[str, ...]) -> list[tuple[str, dict[str, object]]]:
    records = []
    try:
        for where, record in json_objects(_text_lines(path), str(path)):
            for key in required:
                if not isinstance(record.get(key), str):
                    raise DataFormatError(f"{where}: missing text field {key!r}")
            records.append((where, record))
    except JsonLinesError as error:
        raise DataFormatError(str(error)) from None
    return records
