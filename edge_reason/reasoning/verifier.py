"""Checking a reasoning chain step by step.

Built-in checkers:

* arithmetic: calculator annotations ``<<48/2=24>>`` (GSM8K; the number written right after
  ``>>`` must agree too) and, on lines without annotations, plain equations ``0.2 x 50 = $10``;
  each is recomputed exactly (see arithmetic.py);
* cited notes (``[1]``, ``[2]``: the retrieved notes in prompt order): the note must exist and
  share the answer's content words (note_citations.py);
* cited facts (bAbI style, ``Facts: 4 11.`` then ``Answer: office``): every cited number must
  be a line of the story, the cited lines must concern what the question asks about
  (grounding/entities.py), and they must support the answer. Support is decided by a rule
  pack that tracks the story (the built-in ``babi`` pack: the latest location of the person
  asked about); when the pack cannot read the story, a cited line must at least mention the
  answer, and the answer is left unchecked: a mention does not show it is still true;
* an addition ``a+b``: its scratchpad against the one the operands give, and its answer
  against the exact sum (grounding/scratchpad.py).

A finding either holds, fails, or records what could not be checked (``checked=False``). A
step's status is its weakest finding's, a chain is ``verified`` only when every step is: a
check that passes on part of a chain says nothing about the rest.

Domain checkers plug in with ``Verifier.add``: any callable taking a :class:`Chain` and
returning :class:`Finding` s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from .answer import Step, StepStatus
from .arithmetic import evaluate, format_number, written_agrees
from .errors import CalculationError
from .extract import normalize_answer
from .grounding.entities import absent_entities, entities, ungrounded_lines
from .grounding.story import story_lines
from .retrieval import Passage

if TYPE_CHECKING:
    from edge_reason.heuristics import RuleAnswer, RulePack


@dataclass(frozen=True)
class Chain:
    """What a checker looks at: the generated text and what it answers."""

    text: str
    question: str = ""
    context: str | None = None
    answer: str | None = None
    notes: tuple[Passage, ...] = ()  # the retrieved notes the prompt held, in order


@dataclass(frozen=True)
class Finding:
    """One check of a chain.

    ``span`` locates the checked text in ``Chain.text``. A failed arithmetic finding carries
    ``repair``: the text that should stand at ``span[0]`` (the correct result), so the chain
    can be cut there, corrected and continued.
    """

    span: tuple[int, int]
    ok: bool
    detail: str
    repair: str | None = None
    value: Fraction | None = None  # the recomputed value, for arithmetic
    # False: the text at ``span`` could not be checked (``detail`` says why); it fails nothing
    # but keeps its step, and so its chain, from counting as verified
    checked: bool = True


Checker = Callable[[Chain], Iterable[Finding]]


@dataclass(frozen=True)
class Verification:
    """A chain's steps (its lines) with their statuses, and every finding."""

    steps: tuple[Step, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """No finding failed (a chain with nothing to check is not rejected)."""
        return all(f.ok for f in self.findings)

    @property
    def verified(self) -> bool:
        """Every step was checked and holds: the weakest step is verified."""
        return bool(self.steps) and all(s.status is StepStatus.VERIFIED for s in self.steps)

    @property
    def first_failure(self) -> Finding | None:
        failed = [f for f in self.findings if not f.ok]
        return min(failed, key=lambda f: f.span[0]) if failed else None


class Verifier:
    """Runs checkers over a chain and marks each of its lines verified, failed or unchecked."""

    def __init__(self, checkers: Sequence[Checker] | None = None) -> None:
        """``checkers`` defaults to arithmetic, cited notes, and cited facts judged by the
        ``babi`` pack."""
        if checkers is None:
            from edge_reason.heuristics import load_builtin

            from .grounding.scratchpad import check_addition_scratchpad  # builds on Finding
            from .note_citations import check_note_citations  # it builds on Chain and Finding

            checkers = (
                check_arithmetic,
                check_addition_scratchpad,
                check_note_citations,
                FactCitations(load_builtin("babi")),
            )
        self.checkers: list[Checker] = list(checkers)

    def add(self, checker: Checker) -> None:
        """Add a domain checker; it runs after the others on every chain."""
        if not callable(checker):
            raise TypeError(f"a checker must be callable, got {checker!r}")
        self.checkers.append(checker)

    def verify(
        self,
        text: str,
        *,
        question: str = "",
        context: str | None = None,
        answer: str | None = None,
        notes: Sequence[Passage] = (),
    ) -> Verification:
        """Check ``text`` (a chain answering ``question`` about ``context`` with ``answer``,
        after a prompt that held ``notes``)."""
        chain = Chain(text, question, context, answer, tuple(notes))
        findings = tuple(f for checker in self.checkers for f in checker(chain))
        return Verification(_steps(text, findings), findings)

    def verify_rule_answer(
        self, pack: str, found: RuleAnswer, question: str, context: str | None
    ) -> tuple[Step, ...]:
        """A rule pack's answer as steps (its trace), each with the status of the one check
        that can be made from outside the pack: about a story, that the lines it rests on
        concern what is asked (a pack reads every line or does not answer, so an answer
        resting on no line, "no", is the whole story's); without one, that the question's
        arithmetic recomputes to it. Anything else is unchecked: the pack cannot vouch for
        its own reading."""
        if found.likely:
            finding = Finding((0, 0), True, "a likely answer, not a deduced one", checked=False)
        elif context:
            finding = _grounding(question, list(found.sources), story_lines(context), (0, 0))
            if not found.sources:
                finding = Finding((0, 0), True, "read from every line of the story")
        else:
            finding = _recomputed(question, found.answer)
        status = (
            StepStatus.FAILED
            if not finding.ok
            else StepStatus.VERIFIED
            if finding.checked
            else StepStatus.UNCHECKED
        )
        detail = f"rule pack {pack!r}: {finding.detail}"
        return tuple(Step(line, status, detail) for line in found.trace)


def _recomputed(question: str, answer: str) -> Finding:
    """Whether a question that is arithmetic ("What is 17*23 + 4?") computes to ``answer``."""
    expression = re.sub(r"(?i)^\s*what\s+is\s+", "", question).strip().rstrip("?= ").strip()
    try:
        value = evaluate(expression)
    except CalculationError:
        return Finding((0, 0), True, "nothing outside the pack recomputes it", checked=False)
    shown = f"{expression} = {format_number(value)}"
    if written_agrees(value, answer) is None:
        return Finding((0, 0), False, f"{shown}, not {answer}")
    return Finding((0, 0), True, f"recomputed: {shown}")


def _steps(text: str, findings: Sequence[Finding]) -> tuple[Step, ...]:
    steps = []
    start = 0
    for line in text.splitlines(keepends=True):
        end = start + len(line)
        mine = [f for f in findings if start <= f.span[0] < end]
        if line.strip():
            if not all(f.ok for f in mine):
                status = StepStatus.FAILED
            elif mine and all(f.checked for f in mine):
                status = StepStatus.VERIFIED
            else:
                status = StepStatus.UNCHECKED
            steps.append(Step(line.strip(), status, "; ".join(f.detail for f in mine)))
        start = end
    return tuple(steps)


# ---- arithmetic -------------------------------------------------------------------------

_ANNOTATION = re.compile(r"<<(?P<expression>[^<>=]*)=(?P<result>[^<>=]*)>>")
_NUMBER_TEXT = r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?\.\d+"
_CARRIED = re.compile(rf"\s*(?P<number>{_NUMBER_TEXT})")
_NUMBER_ONLY = re.compile(_NUMBER_TEXT)
_SIDE_CHARS = frozenset("0123456789.,$%()+-*/x×÷ ")
_BINARY = "+*/x×÷"
_LETTER_X = re.compile(r"\Sx|x\S")  # "x" means times only between spaces: "12 x 2"
_JOINING_WORDS = frozenset({"and", "plus", "minus", "times", "of", "by", "over"})
_MIXED_NUMBER = re.compile(r"(\d+) (\d+)/(\d+)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_HAS_OPERATION = re.compile(r"[\d)]\s*(?:\*\*|//|[-+*/])\s*[-+(\d.]")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def check_arithmetic(chain: Chain) -> list[Finding]:
    """Annotated steps, then plain equations on lines that carry no annotation."""
    return annotation_findings(chain.text) + plain_equation_findings(chain.text)


def annotation_findings(text: str) -> list[Finding]:
    """Recompute every ``<<expression=result>>`` annotation in ``text``."""
    findings = []
    for found in _ANNOTATION.finditer(text):
        expression, written = found.group("expression"), found.group("result")
        carried = _CARRIED.match(text, found.end())
        findings.append(
            _recompute(
                expression,
                written,
                found.start("result"),
                carried.group("number") if carried else None,
                repair_suffix=">>",
            )
        )
    return findings


def plain_equation_findings(text: str) -> list[Finding]:
    """Recompute equations such as ``12 x 2 = 24`` or ``1/2 * 1/2 = 1/4`` on lines without
    annotations (``a = b = c`` checks both equalities).

    Each side is the run of arithmetic characters next to ``=``; ``$``, thousands commas,
    ``%``, mixed numbers (``1 1/2``) and ``x``/``×``/``÷`` are read as people mean them. A side
    that touches a word through an operator (``M + 4 + 2``, ``5A``, ``students x 2``) has
    non-numeric operands, and text that does not parse is not arithmetic: both are skipped.
    """
    findings = []
    start = 0
    for line in text.splitlines(keepends=True):
        if "<<" not in line:
            findings.extend(_line_equations(line, start))
        start += len(line)
    return findings


def _line_equations(line: str, offset: int) -> list[Finding]:
    findings = []
    equals = [i for i, ch in enumerate(line) if ch == "="]
    for position in equals:
        left = _side(line, position, -1)
        right = _side(line, position + 1, +1)
        if left is None or right is None:
            continue
        # "40% + 20% = 60%" works in hundredths; in "100 - 50 = 50%" the sign only labels
        percent = "%" in left[0]
        expression = _PERCENT.sub(r"(\1/100)", left[0])
        result = _PERCENT.sub(r"(\1/100)" if percent else r"\1", right[0])
        if not _HAS_OPERATION.search(expression):
            continue
        try:
            evaluate(expression)
            target = evaluate(result)
        except CalculationError:
            continue
        written, at = line[right[1] : right[2]], offset + right[1]
        if _NUMBER_ONLY.fullmatch(written):
            findings.append(_recompute(expression, written, at))
        else:
            findings.append(_recompute(expression, format_number(target), at, shown_as=written))
    return findings


def _side(line: str, edge: int, direction: int) -> tuple[str, int, int] | None:
    """The arithmetic run on one side of an ``=`` (``edge`` is where it starts, walking
    ``direction``): (normalized expression, start, end of its text in ``line``), or None if
    it is not arithmetic."""
    begin = end = edge
    if direction < 0:
        while begin > 0 and line[begin - 1] in _SIDE_CHARS:
            begin -= 1
    else:
        while end < len(line) and line[end] in _SIDE_CHARS:
            end += 1
    raw = line[begin:end]
    if direction < 0:
        stripped = raw.lstrip(" x×")
        word = line[:begin].split()[-1:] if line[:begin].strip() else []
        if stripped != raw.lstrip(" ") and begin > 0 and line[begin - 1].isalpha():
            return None  # "students x 2/3": a word was an operand
        if word and word[0].lower() in _JOINING_WORDS:
            return None  # "12 x 1 and 1/4": the run is the end of a spelled-out operation
        raw = stripped
        begin = end - len(raw)
    else:
        raw = raw.rstrip(" x×")
        end = begin + len(raw)
    core = raw.strip()
    begin += len(raw) - len(raw.lstrip())
    end = begin + len(core)
    if not core or core[0] in _BINARY or core[-1] in _BINARY + "(":
        return None  # an operator at the edge means a word operand beyond it
    outside = line[end] if direction > 0 and end < len(line) else ""
    if outside.isalnum():
        return None  # "5A": the number is part of a term
    expression = _THOUSANDS_COMMA.sub("", core.replace("$", ""))
    if "," in expression or _LETTER_X.search(expression):
        return None  # an ambiguous number (16,0000), or algebra (11x + 15)
    expression = _MIXED_NUMBER.sub(r"(\1+\2/\3)", expression)
    expression = expression.replace("×", "*").replace("x", "*").replace("÷", "/")
    return expression, begin, end


def _recompute(
    expression: str,
    written: str,
    at: int,
    carried: str | None = None,
    repair_suffix: str = "",
    shown_as: str | None = None,
) -> Finding:
    """Check ``expression`` against the ``written`` result at offset ``at``. ``shown_as`` is
    the written right side when it is itself an expression (``written`` is then its value,
    and no repair is offered: there is no single number to substitute)."""
    span = (at, at + len(shown_as if shown_as is not None else written))
    try:
        value = evaluate(expression)
    except CalculationError as error:
        return Finding(span, False, f"cannot compute {expression.strip()}: {error.reason}")
    right = format_number(value)
    shown = f"{expression.strip()} = {right}"
    agreement = written_agrees(value, written)
    if agreement is None:
        if shown_as is not None:
            return Finding(span, False, f"{shown}, not {shown_as} = {written}", value=value)
        return Finding(span, False, f"{shown}, not {written.strip()}", right + repair_suffix, value)
    if carried is not None and written_agrees(value, carried) is None:
        return Finding(
            span, False, f"{shown}, but the text carries {carried}", right + repair_suffix, value
        )
    note = " (rounded)" if agreement == "rounded" else ""
    return Finding(span, True, shown + note, value=value)


# ---- cited facts --------------------------------------------------------------------------

_FACTS = re.compile(r"facts?\s*:\s*(?P<ids>\d+(?:\s*,?\s*\d+)*)", re.IGNORECASE)


def cited_facts(text: str) -> list[int]:
    """The story line ids a chain cites in its ``Facts:`` line (empty if it cites none)."""
    cited = _FACTS.search(text)
    return [int(n) for n in re.findall(r"\d+", cited.group("ids"))] if cited else []


class FactCitations:
    """Checks ``Facts: N ...`` citations against the story and the answer they support."""

    def __init__(self, pack: RulePack | None, *, required: bool = True) -> None:
        """``pack`` tracks the story to decide support (None: the cited lines must mention
        the answer). ``required``: a chain about a story that cites no facts fails (otherwise
        a chain could pass by leaving out the one thing that can be checked)."""
        self.pack = pack
        self.required = required
        # the pack's reading of the last story asked about: a rejected chain is drawn again
        # and checked against the same story, up to Policy.max_revisions times
        self._last_truth: tuple[str, str, RuleAnswer | None] | None = None

    def __call__(self, chain: Chain) -> list[Finding]:
        if not chain.context:
            return []
        cited = _FACTS.search(chain.text)
        if cited is None:
            if not self.required:
                return []
            return [Finding((0, len(chain.text)), False, "the chain cites no story facts")]
        story = story_lines(chain.context)
        ids = cited_facts(chain.text)
        span = cited.span()
        missing = [i for i in ids if i not in story]
        if missing:
            listed = ", ".join(str(i) for i in missing)
            return [Finding(span, False, f"fact {listed} is not a line of the story")]
        if chain.answer is None:
            return [Finding(span, False, "facts are cited but no answer follows")]
        answer_span = _answer_span(chain.text, chain.answer, span[1])
        absent = absent_entities(chain.question, story)
        if absent:
            named = ", ".join(repr(word) for word in absent)
            unknown = f"the story never mentions {named}: the answer is unknown"
            return [Finding(span, False, unknown), Finding(answer_span, False, unknown)]
        grounding = _grounding(chain.question, ids, story, span)
        return [grounding, *self._support(chain, chain.answer, ids, story, span, answer_span)]

    def _support(
        self,
        chain: Chain,
        answer: str,
        ids: list[int],
        story: dict[int, str],
        span: tuple[int, int],
        answer_span: tuple[int, int],
    ) -> list[Finding]:
        """Findings on the citations (at ``span``) and on the answer (at ``answer_span``)."""
        cited = ", ".join(str(i) for i in ids)
        truth = self._truth(chain.question, chain.context)
        if truth is not None and truth.likely:
            # the pack guesses too: agreeing with it proves nothing, differing disproves nothing
            guess = f"rule pack guesses {truth.answer!r}: a guess proves nothing"
            return [Finding(answer_span, True, guess, checked=False)]
        if truth is not None and normalize_answer(truth.answer) != normalize_answer(answer):
            # an answer from no line ("no", "nothing") comes from the whole story: the pack
            # reads every sentence or does not answer
            where = f"line {', '.join(map(str, truth.sources))}" if truth.sources else "the story"
            # the answer is what is wrong: the citations are judged by what they are about
            return [Finding(answer_span, False, f"{where} says {truth.answer!r}, not {answer!r}")]
        if truth is not None:
            pack = self.pack.name if self.pack is not None else ""
            holds = Finding(answer_span, True, f"rule pack {pack!r} reads {answer!r} in the story")
            if not truth.sources:
                # right, and resting on no line ("no": nothing says so): the answer is checked,
                # the citations only for what they are about
                return [holds]
            needed = ", ".join(str(i) for i in truth.sources)
            if set(truth.sources) <= set(ids):
                return [Finding(span, True, f"line {cited} supports {answer!r}"), holds]
            if self._derives_alone(chain.question, answer, ids, story):
                return [Finding(span, True, f"line {cited} alone give {answer!r}"), holds]
            return [Finding(span, False, f"'{answer}' rests on line {needed}, not {cited}"), holds]
        # No pack reads the story: a cited line that mentions the answer is all that can be
        # seen, and it does not show the answer still holds (a later line may overturn it).
        unread = Finding(
            answer_span, True, "no rule pack reads this story: not recomputed", checked=False
        )
        words = normalize_answer(answer).split(",")
        mentions = [i for i in ids if all(w in story[i].lower() for w in words)]
        if mentions:
            mention = f"line {mentions[0]} mentions {answer!r}"
            return [Finding(span, True, mention, checked=False), unread]
        if any(all(w in line.lower() for w in words) for line in story.values()):
            return [Finding(span, False, f"no cited line ({cited}) mentions {answer!r}"), unread]
        # an answer no line states (yes, no, a count) cannot be checked by mention
        return [unread]

    def _truth(self, question: str, context: str) -> RuleAnswer | None:
        if self.pack is None:
            return None
        if self._last_truth is None or self._last_truth[:2] != (question, context):
            self._last_truth = (question, context, self.pack.answer_question(question, context))
        return self._last_truth[2]

    def _derives_alone(
        self, question: str, answer: str, ids: list[int], story: dict[int, str]
    ) -> bool:
        """Whether the cited lines, read on their own, give ``answer`` (a story often says a
        thing twice: "took the ball, went to the garden" and "went to the garden, dropped the
        ball" both place the ball; "the box is bigger than the chocolate" may be said outright
        or follow from two sizes), and no later line overturns them, alone or with the rest:
        "Mary went to the kitchen" does not support "kitchen" when she left it and came back."""
        assert self.pack is not None  # only called with the pack's answer in hand
        order = list(story)  # the story's order, which its line ids need not follow
        cited = sorted(set(ids), key=order.index)
        later = order[order.index(cited[-1]) + 1 :]
        readings = [cited, cited + later] + [[*cited, i] for i in later]
        return all(self._gives(question, answer, lines, story) for lines in readings)

    def _gives(self, question: str, answer: str, lines: list[int], story: dict[int, str]) -> bool:
        assert self.pack is not None
        from edge_reason.heuristics.errors import ChainingError

        text = "\n".join(f"{i} {story[i]}" for i in lines)
        try:
            given = self.pack.answer_question(question, text)
        except ChainingError:
            # Lines picked out of a story can contradict each other where the story did not
            # ("John took the apple" and "Mary left the apple" without the line between):
            # rules that keep overturning each other give nothing.
            return False
        return given is not None and normalize_answer(given.answer) == normalize_answer(answer)


def _answer_span(text: str, answer: str, after: int) -> tuple[int, int]:
    """Where ``answer`` stands in ``text`` after offset ``after`` (the citations' end)."""
    word = answer.split(",")[0].strip().lower()
    at = text.lower().rfind(word, after) if word else -1
    return (at, at + len(answer)) if at >= 0 else (after, after)


def _grounding(
    question: str, ids: list[int], story: dict[int, str], span: tuple[int, int]
) -> Finding:
    """Whether the cited lines concern what ``question`` asks about."""
    ungrounded = ungrounded_lines(question, ids, story)
    if ungrounded is None:
        return Finding(span, True, "the question names nothing to check lines by", checked=False)
    if ungrounded:
        about = ", ".join(sorted(entities(question)))
        lines = ", ".join(str(i) for i in ungrounded)
        return Finding(span, False, f"line {lines} is not about {about}")
    return Finding(
        span, True, f"line {', '.join(map(str, ids))} about {', '.join(sorted(entities(question)))}"
    )
