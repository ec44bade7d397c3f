"""Grounded verification on adversarial questions, with the shipped model and with the rule
packs alone: no wrong answer may be marked verified (the false-verified rate stays 0).

The sets are what local step checks let through: questions about someone the story never
names, additions longer than the model was trained on, stories whose later lines overturn an
earlier fact, distractor lines that mention the answer word, and line numbers out of order.
"""

from __future__ import annotations

import pytest

from edge_reason.reasoning.answer import UNVERIFIED_CONFIDENCE, Answer
from edge_reason.reasoning.extract import normalize_answer
from edge_reason.reasoning.reasoner import Reasoner
from edge_reason.reasoning.tools import ToolRegistry

TWO_PEOPLE = "1 John went to the hallway.\n2 Mary moved to the bathroom."
# (story, question): the story never mentions what is asked about
ABSENT = [
    (TWO_PEOPLE, "Where is Daniel?"),
    (TWO_PEOPLE, "Is Daniel in the hallway?"),
    (TWO_PEOPLE, "What is Daniel carrying?"),
    (TWO_PEOPLE, "How many objects is Sandra carrying?"),
    (TWO_PEOPLE, "Where is the apple?"),
    ("1 Lily is a swan.\n2 Lily is white.", "What color is Greg?"),
    ("1 The kitchen is north of the hallway.", "How do you go from the hallway to the garden?"),
]
# (story, question, gold answer)
OVERTURNED = [
    (
        "1 Mary went to the kitchen.\n2 John went to the garden.\n3 Mary went to the office.",
        "Where is Mary?",
        "office",
    ),
    (
        "1 Sandra took the apple.\n2 Sandra went to the hallway.\n3 Sandra dropped the apple.\n"
        "4 Sandra went to the garden.",
        "Where is the apple?",
        "hallway",
    ),
    (
        "1 John went to the bedroom.\n2 John went to the office.\n3 John went back to the bedroom.",
        "Where is John?",
        "bedroom",
    ),
    (
        "1 Mary got the milk.\n2 Mary gave the milk to John.\n3 John went to the garden.",
        "Where is the milk?",
        "garden",
    ),
    (
        "1 Bill went to the park.\n2 Bill is either in the school or the office.",
        "Is Bill in the park?",
        "no",
    ),
]
DISTRACTED = [
    (
        "1 John went to the hallway.\n2 Mary moved to the bathroom.\n3 John went to the kitchen.",
        "Where is John?",
        "kitchen",
    ),
    (
        "1 Daniel went to the garden.\n2 Sandra went to the office.\n"
        "3 Sandra travelled to the garden.\n4 Daniel journeyed to the office.",
        "Where is Sandra?",
        "garden",
    ),
    # no rule pack reads "she": the answer can be neither recomputed nor verified
    (
        "1 Mary went to the garden.\n2 Then she went to the kitchen.\n3 John went to the garden.",
        "Where is Mary?",
        "kitchen",
    ),
]
SHUFFLED = [
    (
        "7 Mary went to the kitchen.\n3 Mary went to the garden.\n5 John went to the office.",
        "Where is Mary?",
        "garden",
    ),
    (
        "4 Sandra went to the hallway.\n2 Sandra went to the bedroom.\n"
        "9 Daniel went to the garden.",
        "Where is Sandra?",
        "bedroom",
    ),
    (
        "10 John took the football.\n2 John went to the office.\n5 John went to the kitchen.",
        "Where is the football?",
        "kitchen",
    ),
]
# bAbI answers by the colour most rhinos have, the rule pack by the latest told: an induced
# colour is a guess, whichever it is
INDUCED = [
    (
        "1 Brian is a rhino.\n2 Bernhard is a swan.\n3 Greg is a rhino.\n4 Julius is a rhino.\n"
        "5 Greg is yellow.\n6 Julius is yellow.\n7 Lily is a rhino.\n8 Brian is gray.\n"
        "9 Bernhard is gray.",
        "What color is Lily?",
        "yellow",
    ),
]
STORIES = OVERTURNED + DISTRACTED + SHUFFLED + INDUCED
# one and two digits more than the model was trained on (three)
LONGER_ADDITIONS = ["1234+5678", "9999+9999", "56789+43211", "99999+1"]


def false_verified(answers: list[tuple[Answer, str]]) -> list[Answer]:
    """The answers that are wrong yet marked verified."""
    return [
        answer
        for answer, gold in answers
        if answer.verified
        and (answer.answer is None or normalize_answer(answer.answer) != normalize_answer(gold))
    ]


def assert_honest(answers: list[tuple[Answer, str]]) -> None:
    assert false_verified(answers) == []
    for answer, _ in answers:
        if not answer.verified:
            # a calibrated confidence is what was measured on the validation split, where
            # unchecked answers were right 99% of the time: these adversarial stories are not
            # that distribution, so only the uncalibrated cap can be held here
            capped = answer.confidence_calibrated or answer.confidence <= UNVERIFIED_CONFIDENCE
            assert capped and answer.not_verified


@pytest.fixture(scope="module")
def model() -> Reasoner:
    """The shipped model alone: no rule pack or tool answers for it."""
    return Reasoner(rules=[], tools=ToolRegistry())


@pytest.fixture(scope="module")
def rules() -> Reasoner:
    return Reasoner(None)


@pytest.mark.parametrize("name", ["model", "rules"])
def test_a_question_about_what_the_story_never_mentions_is_refused(name, request) -> None:
    reasoner = request.getfixturevalue(name)
    for story, question in ABSENT:
        answer = reasoner.ask(question, context=story)
        assert answer.answer is None and not answer.verified, (question, answer)
        assert "the story never mentions" in answer.reason


@pytest.mark.parametrize("name", ["model", "rules"])
def test_no_wrong_answer_about_a_story_is_verified(name, request) -> None:
    reasoner = request.getfixturevalue(name)
    answers = [(reasoner.ask(q, context=story), gold) for story, q, gold in STORIES]
    assert_honest(answers)


def test_the_model_on_stories_verifies_what_the_story_shows(model: Reasoner) -> None:
    # not only honest: a right answer resting on the right line is verified
    answer = model.ask("Where is Mary?", context=STORIES[0][0])
    assert (answer.answer, answer.verified) == ("office", True)
    assert all(step.status.value == "verified" for step in answer.steps)


def test_no_wrong_sum_is_verified(model: Reasoner) -> None:
    answers = [(model.ask(q), str(sum(int(n) for n in q.split("+")))) for q in LONGER_ADDITIONS]
    assert_honest(answers)


def test_a_scratchpad_that_starts_from_other_operands_fails(model: Reasoner) -> None:
    # the check the shipped model's 1234+5678 -> 711 passed: every column sum was right
    chain = (
        "[1,3,4] has 3 digits.\n[5,8,7] has 3 digits.\n"
        "[1,3,4] + [5,6,7] ; A=[] ; C=0 ; 4+7+0=11 ; A->1 ; C->1\n#### 711"
    )
    check = model.verifier.verify(chain, question="1234+5678", answer="711")
    assert not check.ok and not check.verified
    assert check.first_failure is not None
    assert check.first_failure.detail.startswith("1234 has the digits [1,2,3,4]")
    assert check.steps[-1].detail == "1234+5678 = 6912, not 711"


def test_a_rule_answer_is_verified_only_by_a_check_outside_the_pack(rules: Reasoner) -> None:
    computed = rules.ask("What is 17*23 + 4?")
    assert computed.answer == "395" and computed.verified and computed.confidence == 1.0
    converted = rules.ask("What is 5 km in m?")
    assert converted.source == "rules" and not converted.verified
    assert converted.confidence <= UNVERIFIED_CONFIDENCE
    assert "nothing outside the pack recomputes it" in (converted.not_verified or "")
