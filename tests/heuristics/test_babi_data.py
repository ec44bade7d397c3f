"""The bAbI pack on real training stories: deterministic tracking must be exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_reason.heuristics import load_builtin

BABI = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "babi" / "train"
QUESTIONS = 200


def first_questions(file_name: str, limit: int) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """(story so far, question, answer, supporting line ids) for the file's first questions."""
    path = BABI / file_name
    if not path.is_file():
        pytest.fail(f"bAbI data missing: {path} (the repo expects ../shared/data beside it)")
    items = []
    story: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        number, text = line.split(" ", 1)
        if number == "1":
            story = []
        if "\t" not in text:
            story.append(line)
            continue
        question, answer, support = text.split("\t")
        items.append(("\n".join(story), question, answer, tuple(map(int, support.split()))))
        if len(items) == limit:
            break
    return items


@pytest.mark.parametrize(
    "file_name",
    [
        "qa1_single-supporting-fact_train.txt",
        "qa2_two-supporting-facts_train.txt",
        "qa6_yes-no-questions_train.txt",
        "qa15_basic-deduction_train.txt",
    ],
)
def test_babi_pack_answers_every_question(file_name: str) -> None:
    pack = load_builtin("babi")
    wrong = []
    for story, question, expected, _ in first_questions(file_name, QUESTIONS):
        answer = pack.answer_question(question, story)
        if answer is None or answer.answer != expected:
            wrong.append(f"{question} -> {answer.answer if answer else None}, want {expected}")
    assert not wrong, f"{len(wrong)}/{QUESTIONS} wrong:\n" + "\n".join(wrong[:10])


def test_babi_pack_cites_the_supporting_fact_on_qa1() -> None:
    pack = load_builtin("babi")
    for story, question, _, support in first_questions(
        "qa1_single-supporting-fact_train.txt", QUESTIONS
    ):
        answer = pack.answer_question(question, story)
        assert answer is not None and answer.sources == support, question


def test_babi_pack_cites_the_kind_and_its_fear_on_qa15() -> None:
    pack = load_builtin("babi")
    for story, question, _, support in first_questions("qa15_basic-deduction_train.txt", QUESTIONS):
        answer = pack.answer_question(question, story)
        assert answer is not None and set(answer.sources) == set(support), question
