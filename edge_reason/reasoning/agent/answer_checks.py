"""Checking an agent's final answer against what the run observed, with the verifier.

The run becomes a chain the verifier reads: one line per tool call, as the chat tools write
them (``calculator(12 * 60 * 3) = 2160``, recomputed as an equation), then ``Answer: ...``.
Besides the verifier's own arithmetic check, the answer line is checked here:

* each number in it must come from somewhere: a tool's result, or a passage the memory
  returned, or it fails as computed by nobody. Only a computed number verifies: one that
  only repeats the goal or a passage is unchecked (a copied number may be the wrong one:
  "14 boxes" from "14 shelves" for "how many boxes in all?"). A result counts only if it
  computed something (a calculator call with an
  operation, a conversion into another unit); its operands must be numbers the goal or an
  earlier observation states, or common unit factors such as 60 or 1000 (a calculation on
  invented numbers fails); and the goal's numbers must all be among what the answer was
  computed from, through the calls whose results fed it ("45 * 5" fails for "in 4 weeks");
* a goal that is itself arithmetic ("What is 17*23 + 4?") is recomputed and must agree;
* a cited passage ``[n]`` must be one the run observed, and hold the answer's words;
* a word answer must bring words the goal does not have, held by an observed passage, if
  the memory was searched; even then it is unchecked, since words found in a passage need
  not answer the goal ("the irrigation pump in the north field" for "who services it?").

The answer is verified when its line is and no check failed; a failed check names what is
wrong, which is what the model is told when it is asked to revise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..arithmetic import evaluate, format_number, parse_number, written_agrees
from ..chat_tools import call_line
from ..errors import CalculationError
from ..note_citations import CITATION, SUPPORT_SHARE, content_words, support_share
from ..retrieval import Passage
from ..tools import CALCULATOR, UNIT_CONVERTER
from ..verifier import Chain, Finding, Verification, Verifier, check_arithmetic
from .memory_tool import SEARCH_MEMORY

ANSWER_PREFIX = "Answer: "
# Factors a calculation may use without anyone stating them: time, metric prefixes, dozens.
UNIT_FACTORS = frozenset(Fraction(n) for n in (2, 7, 10, 12, 24, 52, 60, 100, 365, 1000, 3600))
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_GOAL_ARITHMETIC = re.compile(r"[-(\d.][-+*/()\d.\s]*[\d)]")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_OPERATION = re.compile(r"[\d)]\s*(?:\*\*|//|[-+*/])\s*[-(\d.]")


@dataclass(frozen=True)
class Observation:
    """A tool call the run made and what came back (``ok``: it ran)."""

    tool: str
    arguments: dict[str, Any]
    result: str
    ok: bool


@dataclass(frozen=True)
class AnswerCheck:
    """The verifier's verdict on a final answer: its lines with statuses, and whether the
    answer is verified (``failure``: the first failed check, for the revision prompt)."""

    verification: Verification
    verified: bool
    failure: str | None


def check_answer(
    goal: str,
    answer: str,
    observations: Sequence[Observation],
    passages: Sequence[Passage],
) -> AnswerCheck:
    """Verify ``answer`` to ``goal`` against the run's ``observations`` and ``passages``."""
    lines = [call_line(o.tool, o.arguments, o.result, o.ok) for o in observations]
    text = "\n".join([*lines, ANSWER_PREFIX + answer])
    verifier = Verifier([check_arithmetic, _AnswerGrounding(observations)])
    verification = verifier.verify(text, question=goal, answer=answer, notes=passages)
    answer_line = verification.steps[-1] if verification.steps else None
    verified = (
        verification.ok and answer_line is not None and answer_line.status.value == "verified"
    )
    failure = verification.first_failure
    return AnswerCheck(verification, verified, failure.detail if failure else None)


class _AnswerGrounding:
    """The checks on the answer line (module docstring), as a verifier checker."""

    def __init__(self, observations: Sequence[Observation]) -> None:
        self.observations = list(observations)

    def __call__(self, chain: Chain) -> list[Finding]:
        answer = chain.answer or ""
        start = chain.text.rfind(ANSWER_PREFIX) + len(ANSWER_PREFIX)
        span = (start, start + len(answer))
        findings = self._citations(answer, chain.notes, span)
        numbers = _numbers(CITATION.sub(" ", answer))
        findings += _leaving_repeats([self._number(written, chain, span) for written in numbers])
        findings += _goal_arithmetic(chain.question, numbers, span)
        if not numbers and not findings:
            findings.append(_words(answer, chain.question, chain.notes, span))
        return findings

    def _citations(
        self, answer: str, passages: Sequence[Passage], span: tuple[int, int]
    ) -> list[Finding]:
        findings = []
        words = CITATION.sub(" ", answer)
        for match in CITATION.finditer(answer):
            number = int(match.group(1))
            if not 1 <= number <= len(passages):
                seen = f"only {len(passages)} passage(s) were observed"
                findings.append(Finding(span, False, f"cites [{number}] but {seen}"))
            elif support_share(words, passages[number - 1].text) < SUPPORT_SHARE:
                findings.append(
                    Finding(span, False, f"passage [{number}] does not hold the answer's words")
                )
            else:
                findings.append(Finding(span, True, f"passage [{number}] holds the answer"))
        return findings

    def _number(self, written: str, chain: Chain, span: tuple[int, int]) -> Finding:
        value = parse_number(written)
        for index, seen in enumerate(self.observations):
            if not _computes(seen):
                continue  # a search's numbers are the passages', checked as such below
            if any(written_agrees(v, written) for v in _values(seen.result)):
                call = call_line(seen.tool, seen.arguments, seen.result, True)
                invented = self._invented_operands(index, chain.question, chain.notes)
                if invented:
                    named = ", ".join(format_number(v) for v in invented)
                    unstated = f"{call} uses {named}, which no goal or observation states"
                    return Finding(span, False, unstated)
                inputs = self._inputs(index)
                left_out = [ways for ways in _goal_inputs(chain.question) if not ways & inputs]
                if left_out:
                    named = ", ".join(format_number(min(ways)) for ways in left_out)
                    return Finding(span, False, f"{call} leaves out the goal's {named}")
                return Finding(span, True, f"{written} from {call}")
        for number, passage in enumerate(chain.notes, start=1):
            if value in _values(passage.text):
                found = f"{written} is in passage [{number}]: that it answers is not checked"
                return Finding(span, True, found, checked=False)
        if value in _values(chain.question):
            return Finding(span, True, f"{written} repeats the goal: not computed", checked=False)
        return Finding(
            span, False, f"{written} comes from no tool result, passage or the goal: compute it"
        )

    def _inputs(self, index: int) -> set[Fraction]:
        """The numbers call ``index`` took, and those of the earlier calls whose results
        it took: what the answer resting on it was computed from."""
        taken = set(_values(json.dumps(self.observations[index].arguments)))
        inputs = set(taken)
        for earlier in range(index - 1, -1, -1):
            seen = self.observations[earlier]
            if _computes(seen) and taken & set(_values(seen.result)):
                inputs |= self._inputs(earlier)
        return inputs

    def _invented_operands(
        self, index: int, goal: str, passages: Sequence[Passage]
    ) -> list[Fraction]:
        """The operands of call ``index`` (a calculator's) that nothing before it stated."""
        call = self.observations[index]
        if call.tool != CALCULATOR.name:
            return []
        known = set().union(*_goal_inputs(goal)) | UNIT_FACTORS
        for earlier in self.observations[:index]:
            known |= set(_values(earlier.result))
        for passage in passages:
            known |= set(_values(passage.text))
        operands = _values(str(call.arguments.get("expression", "")))
        return [v for v in dict.fromkeys(operands) if v not in known]


def _leaving_repeats(findings: list[Finding]) -> list[Finding]:
    """The numbers' findings, less those of numbers that only repeat the goal or a passage
    when another number was checked: "2160 litres in 3 hours" rests on the 2160."""
    checked = [f for f in findings if f.checked]
    return checked if checked else findings


def _goal_arithmetic(goal: str, numbers: list[str], span: tuple[int, int]) -> list[Finding]:
    """A goal that spells out arithmetic, recomputed against the answer's numbers."""
    for found in _GOAL_ARITHMETIC.finditer(goal):
        expression = found.group().strip()
        if not _OPERATION.search(expression):
            continue
        try:
            value = evaluate(expression)
        except CalculationError:
            continue
        shown = f"{expression} = {format_number(value)}"
        if any(written_agrees(value, n) for n in numbers):
            return [Finding(span, True, f"the goal's {shown}")]
        return [Finding(span, False, f"the goal's {shown}, not {', '.join(numbers) or 'this'}")]
    return []


def _computes(observation: Observation) -> bool:
    """Whether a call computed something an answer may rest on: it ran, and it is no search,
    no calculator call without an operation ("1000" computes nothing) and no conversion
    into the unit it started from."""
    if not observation.ok or observation.tool == SEARCH_MEMORY:
        return False
    arguments = observation.arguments
    if observation.tool == CALCULATOR.name:
        return bool(_OPERATION.search(str(arguments.get("expression", ""))))
    if observation.tool == UNIT_CONVERTER.name:
        return str(arguments.get("from")).lower() != str(arguments.get("to")).lower()
    return True


def _goal_inputs(goal: str) -> list[set[Fraction]]:
    """The numbers a goal gives to compute with, each as the values it may be used as (a
    percentage as itself or its fraction: "15% of 640" may be 640 * 0.15)."""
    percents = {parse_number(m.group(1)) for m in _PERCENT.finditer(goal)}
    return [
        {value, value / 100} if value in percents else {value}
        for value in dict.fromkeys(_values(goal))
    ]


def _words(answer: str, goal: str, passages: Sequence[Passage], span: tuple[int, int]) -> Finding:
    """A word answer: its words beyond the goal's held by an observed passage (unchecked:
    that they answer the goal is not shown), else failed (memory searched) or unchecked
    (nothing observed to check it by)."""
    if not passages:
        return Finding(span, True, "nothing observed checks this answer", checked=False)
    new = " ".join(content_words(answer) - content_words(goal))
    if not new:
        return Finding(span, False, "the answer only repeats the goal's words")
    shares = [support_share(new, p.text) for p in passages]
    best = max(range(len(shares)), key=shares.__getitem__)
    if shares[best] >= SUPPORT_SHARE:
        held = f"passage [{best + 1}] holds the answer's words: that they answer is not checked"
        return Finding(span, True, held, checked=False)
    return Finding(span, False, "no observed passage holds the answer's words")


def _numbers(text: str) -> list[str]:
    return [m.group() for m in _NUMBER.finditer(text)]


def _values(text: str) -> list[Fraction]:
    values = []
    for written in _numbers(text):
        try:
            values.append(parse_number(written))
        except CalculationError:
            continue
    return values
