"""Reading a story (bAbI style, one fact per line) into facts, sentence by sentence."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .facts import FactBase, Support
from .patterns import format_fact
from .schema import StatementSpec

_NUMBERED = re.compile(r"\s*(\d+)\s+(.*)")
_SENTENCE_END = re.compile(r"(?<=[.!])\s+")


@dataclass(frozen=True)
class Sentence:
    """One story sentence and its id: the line's own number if it has one, else its position."""

    id: int
    text: str


def split_story(text: str) -> list[Sentence]:
    """The story's sentences in order. Questions (text ending in '?') carry no facts and are
    skipped, together with anything after a tab on their line (bAbI answers)."""
    sentences: list[Sentence] = []
    for position, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        numbered = _NUMBERED.fullmatch(line)
        line_id, body = (
            (int(numbered.group(1)), numbered.group(2)) if numbered else (position, line)
        )
        body = body.split("\t", 1)[0].strip()
        for part in _SENTENCE_END.split(body):
            if part and not part.endswith("?"):
                sentences.append(Sentence(line_id, part))
    return sentences


def read_story(
    statements: tuple[StatementSpec, ...],
    sentences: list[Sentence],
    base: FactBase,
    settle: Callable[[], object],
) -> Sentence | None:
    """Apply each sentence's statement to ``base``, then ``settle()`` it (forward chaining).

    Returns the first sentence no statement recognises (the facts would be incomplete, so the
    caller should not answer), or None when every sentence was understood.
    """
    for sentence in sentences:
        statement, groups = _recognise(statements, sentence.text)
        if statement is None:
            return sentence
        slots = {name: value for name, value in groups.items() if value is not None}
        for pattern in statement.retracts:
            for _, (fact,) in list(base.match([pattern.fill(slots)])):
                base.remove(fact)
        for pattern in statement.asserts:
            fact = pattern.fill(slots).instantiate({})
            step = f"line {sentence.id}: '{sentence.text}' so {format_fact(fact)}"
            # A restated fact is re-added so that it cites the latest sentence saying it.
            base.remove(fact)
            base.add(fact, Support((step,), frozenset({sentence.id})))
        settle()
    return None


def _recognise(
    statements: tuple[StatementSpec, ...], text: str
) -> tuple[StatementSpec | None, dict[str, str | None]]:
    for statement in statements:
        found = statement.regex.fullmatch(text)
        if found:
            return statement, found.groupdict()
    return None, {}
