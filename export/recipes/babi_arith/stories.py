"""bAbI files read as whole stories: statements and questions in order, ids kept.

The reasoning layer's reader (edge_reason.reasoning.datasets.read_babi) yields one problem
per question with the story before it; training packs a story once with all its questions,
so the recipe needs the story itself. ``Story.problems`` gives the reasoning layer's view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edge_reason.reasoning.datasets import Problem, babi_task
from edge_reason.reasoning.errors import DataFormatError

_LINE = re.compile(r"(?P<id>\d+) (?P<text>[^\t]+?)\s*(?:\t(?P<answer>[^\t]+)\t(?P<facts>[\d ]+))?")


@dataclass(frozen=True)
class StoryLine:
    """A statement, or a question (with its answer and supporting statement ids)."""

    id: int
    text: str
    answer: str | None = None
    supporting: tuple[int, ...] = ()

    @property
    def is_question(self) -> bool:
        return self.answer is not None


@dataclass(frozen=True)
class Story:
    task: str  # "qa1" ... "qa20"
    where: str  # file:line of the story's first line
    lines: tuple[StoryLine, ...]

    def problems(self) -> list[Problem]:
        """Each question with the statements before it, as the Reasoner is asked it."""
        problems, statements = [], []
        for line in self.lines:
            if not line.is_question:
                statements.append(f"{line.id} {line.text}")
                continue
            assert line.answer is not None  # a question
            problems.append(
                Problem(
                    question=line.text,
                    answer=line.answer,
                    where=f"{self.where}+{line.id}",
                    context="\n".join(statements),
                    supporting=line.supporting,
                    task=self.task,
                )
            )
        return problems


def read_stories(path: Path) -> list[Story]:
    """Every story of a bAbI file (a story begins where the line id restarts at 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read ({error})") from None
    task = babi_task(path)
    stories: list[Story] = []
    lines: list[StoryLine] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        found = _LINE.fullmatch(raw)
        if found is None:
            raise DataFormatError(f"{path}:{number}: not a bAbI line ('ID text[\\tanswer\\tids]')")
        line_id = int(found.group("id"))
        if line_id == 1 and lines:
            stories.append(Story(task, f"{path}:{start}", tuple(lines)))
            lines = []
        if line_id == 1:
            start = number
        elif not lines or line_id <= lines[-1].id:
            raise DataFormatError(f"{path}:{number}: line id {line_id} does not follow the story")
        line = _story_line(found, line_id)
        unknown = [i for i in line.supporting if i not in {s.id for s in lines}]
        if unknown:
            raise DataFormatError(f"{path}:{number}: supporting fact(s) {unknown} precede no line")
        lines.append(line)
    if lines:
        stories.append(Story(task, f"{path}:{start}", tuple(lines)))
    if not stories:
        raise DataFormatError(f"{path}: no stories")
    return stories


def _story_line(found: re.Match[str], line_id: int) -> StoryLine:
    if found.group("answer") is None:
        return StoryLine(line_id, found.group("text").strip())
    facts = tuple(int(f) for f in found.group("facts").split())
    return StoryLine(line_id, found.group("text").strip(), found.group("answer").strip(), facts)
