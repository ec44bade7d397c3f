"""Training documents: a story (or an addition problem) as segments of text.

A bAbI story is its statements, each question block placed after the statements it asks
about. Statements form block 0, shared by every question of the story; question k's prompt
and chain form block k, which sees block 0 but no other question. The packer turns this into
an attention mask and position ids under which every question block reads exactly the
prompt the ``babi`` format renders at inference (numbered statements, the question), while
the story is read once for all its questions.

Text comes from the reasoning layer's formats, so training and inference agree by
construction: the ``babi`` format's template, ``Problem.babi_chain`` for the target, and the
``gsm8k`` format's prompt for addition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from edge_reason.reasoning.datasets import Problem
from edge_reason.reasoning.prompts import BUILTIN_FORMATS, PromptFormat

from .addition import QUESTION_PATTERN, Addition
from .stories import Story


def trained_formats() -> dict[str, PromptFormat]:
    """The formats the model is trained in, as the bundle declares them (the Reasoner asks
    the model nothing else) and the evaluation asks it: each takes only the questions of its
    pattern, and none states a failed attempt's finding, because no training text does (the
    verifier's loop then draws a fresh chain from the same prompt instead)."""
    patterns = {"babi": "", "gsm8k": QUESTION_PATTERN}
    return {
        name: replace(BUILTIN_FORMATS[name], question_pattern=pattern, feedback="")
        for name, pattern in patterns.items()
    }


SHARED = 0  # block of the statements every question of a story sees
ROLES = ("context", "prompt", "reasoning", "answer")  # reasoning and answer carry the loss
_ANSWER_CUE = "Answer:"  # where Problem.babi_chain's answer begins
_FINAL_CUE = "####"  # where an addition chain's answer begins


@dataclass(frozen=True)
class Segment:
    text: str
    block: int
    role: str

    @property
    def is_target(self) -> bool:
        return self.role in ("reasoning", "answer")


@dataclass(frozen=True)
class Document:
    task: str
    where: str
    segments: tuple[Segment, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "task": self.task,
                "where": self.where,
                "segments": [[s.text, s.block, s.role] for s in self.segments],
            }
        )

    @classmethod
    def from_json(cls, line: str, where: str) -> Document:
        try:
            raw = json.loads(line)
            segments = tuple(Segment(str(t), int(b), str(r)) for t, b, r in raw["segments"])
            document = cls(str(raw["task"]), str(raw["where"]), segments)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{where}: not a training document ({error})") from None
        bad = [s.role for s in segments if s.role not in ROLES]
        if bad:
            raise ValueError(f"{where}: unknown segment role {bad[0]!r} (known: {ROLES})")
        return document


def story_document(story: Story) -> Document:
    """The story's statements with each question block where it was asked."""
    babi = BUILTIN_FORMATS["babi"]
    segments: list[Segment] = []
    block = 0
    problems = iter(story.problems())
    for line in story.lines:
        if not line.is_question:
            # as the babi format writes a numbered story line (tests check the agreement)
            segments.append(Segment(f"{line.id} {line.text}\n", SHARED, "context"))
            continue
        problem = next(problems)
        block += 1
        prompt = babi.render(problem.question)  # no context: the statements are block 0
        segments.append(Segment(prompt, block, "prompt"))
        segments.extend(_split_answer(problem.babi_chain, _ANSWER_CUE, block))
    return Document(story.task, story.where, tuple(segments))


def addition_document(problem: Addition) -> Document:
    """The ``gsm8k`` prompt for ``a+b`` and the scratchpad chain, as one block."""
    prompt = BUILTIN_FORMATS["gsm8k"].render(problem.question)
    segments = (Segment(prompt, 1, "prompt"), *_split_answer(problem.chain(), _FINAL_CUE, 1))
    return Document(problem.task, problem.where, segments)


def _split_answer(chain: str, cue: str, block: int) -> tuple[Segment, ...]:
    """The chain as its reasoning and its final answer (from ``cue`` on), so the validation
    curve can score answers apart from the reasoning before them."""
    at = chain.rindex(cue)
    return Segment(chain[:at], block, "reasoning"), Segment(chain[at:], block, "answer")


def addition_problem(problem: Addition) -> Problem:
    """An addition as the reasoning layer's evaluation sees it."""
    return Problem(
        question=problem.question, answer=problem.answer, where=problem.where, task=problem.task
    )


def write_documents(path: Path, documents: list[Document]) -> None:
    path.write_text("".join(d.to_json() + "\n" for d in documents), encoding="utf-8")


def read_documents(path: Path) -> Iterator[Document]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield Document.from_json(line, f"{path}:{number}")
