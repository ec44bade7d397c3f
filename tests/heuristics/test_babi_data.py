"""The bAbI pack on real training stories: deterministic tracking must be exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_reason.heuristics import load_builtin

BABI = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "babi" / "train"
QUESTIONS = 200
# Where the data and the pack part ways: (file, number of the question in the file, from 1).
# In one task-5 story Bill hands Jeff the apple (line 10) and later the football (line 13); the
# data answers "What did Bill give to Jeff?" with the apple, twice (questions 39 and 40).
# Task 16 is induction, which a story with two animals of one kind in different colours does not
# settle: the pack takes the colour told last of the kind, as 9,938 of the 10,000 training
# questions do; in question 6 the data takes Lily's green over Julius's yellow.
DATA_DISAGREES = {
    ("qa5_three-arg-relations_train.txt", 39),
    ("qa5_three-arg-relations_train.txt", 40),
    ("qa16_basic-induction_train.txt", 6),
}


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
        "qa3_three-supporting-facts_train.txt",
        "qa5_three-arg-relations_train.txt",
        "qa6_yes-no-questions_train.txt",
        "qa7_counting_train.txt",
        "qa9_simple-negation_train.txt",
        "qa10_indefinite-knowledge_train.txt",
        "qa14_time-reasoning_train.txt",
        "qa15_basic-deduction_train.txt",
        "qa16_basic-induction_train.txt",
        "qa17_positional-reasoning_train.txt",
        "qa18_size-reasoning_train.txt",
        "qa19_path-finding_train.txt",
        "qa20_agents-motivations_train.txt",
    ],
)
def test_babi_pack_answers_every_question(file_name: str) -> None:
    pack = load_builtin("babi")
    wrong = []
    for number, (story, question, expected, _) in enumerate(
        first_questions(file_name, QUESTIONS), 1
    ):
        if (file_name, number) in DATA_DISAGREES:
            continue
        answer = pack.answer_question(question, story)
        # the pack keeps words lower-cased (task 5 answers with names: "Fred")
        if answer is None or answer.answer != expected.lower():
            wrong.append(f"{question} -> {answer.answer if answer else None}, want {expected}")
    assert not wrong, f"{len(wrong)}/{QUESTIONS} wrong:\n" + "\n".join(wrong[:10])


def test_babi_pack_cites_the_supporting_fact_on_qa1() -> None:
    pack = load_builtin("babi")
    for story, question, _, support in first_questions(
        "qa1_single-supporting-fact_train.txt", QUESTIONS
    ):
        answer = pack.answer_question(question, story)
        assert answer is not None and answer.sources == support, question


@pytest.mark.parametrize(
    "file_name",
    [
        "qa5_three-arg-relations_train.txt",  # the giving asked about
        "qa14_time-reasoning_train.txt",  # both visits
        "qa15_basic-deduction_train.txt",  # the kind and its fear
        "qa19_path-finding_train.txt",  # both steps
        "qa20_agents-motivations_train.txt",  # the need
    ],
)
def test_babi_pack_cites_exactly_the_supporting_facts(file_name: str) -> None:
    pack = load_builtin("babi")
    for number, (story, question, _, support) in enumerate(
        first_questions(file_name, QUESTIONS), 1
    ):
        if (file_name, number) in DATA_DISAGREES:
            continue
        answer = pack.answer_question(question, story)
        assert answer is not None and set(answer.sources) == set(support), question
