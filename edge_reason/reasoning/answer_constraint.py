"""What may follow a chain's answer marker, where the question's kind says (issue 25).

A prompt format whose model was trained to end its chain with a marker and an answer of a
known shape declares the marker (``PromptFormat.answer_marker``: bAbI's ``Answer: hallway``,
the addition scratchpad's ``#### 912``). For such a question the plan fixes the answer's
form, and generation applies it as a Lark grammar through llguidance
(:mod:`edge_reason.structured_output`): the chain before the marker stays free (only the
other form's marker, ``####``, is kept out of a word chain, where the extractor would read
it first), and after the marker comes an answer ``extract_answer`` reads, then the end:

* a number form: an integer;
* a word form: one of the words of the story and the question (as written, in lower case,
  and singular: "wolves" answers "wolf"), or one of the answers the format's question
  families give without the story naming them (``FAMILY_ANSWERS``), or a comma list of them.

So an answer never fails to parse: the end of a chain is masked until its answer is
complete, and a chain that runs out of tokens, time or into a stop string before it is
closed with the marker and an answer (``close``). A chat model's formats declare no marker:
its answer has no form, and nothing changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from edge_reason.structured_output import ResponseFormat

from .grounding.entities import singular
from .grounding.story import story_lines

if TYPE_CHECKING:
    from .chat_prompts import ChatPrompt
    from .prompts import PromptFormat

# The answers a family's questions give that need not be words of the story, measured over
# bAbI's 20 training files: yes/no/maybe (tasks 6, 9, 10, 17, 18), nothing (8), a count
# (7: none to three), compass points (19: "n,w"), and where a motive leads (20: "Where will
# Antoine go?" -> kitchen, bedroom or garden, unnamed in 29% of its stories). Task 15's
# "wolf" for a story's "wolves" is a singular, which every story's words get.
FAMILY_ANSWERS: dict[str, tuple[str, ...]] = {
    "babi": (
        *("yes", "no", "maybe", "nothing", "none"),
        *("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
        *("n", "e", "s", "w"),
        *("kitchen", "bedroom", "garden"),
    )
}
_WORD = re.compile(r"[\w'-]+")  # what extract's word lists are made of
_INTEGER = re.compile(r"-?[0-9]+")
_REGEX_META = set("\\.+*?()|[]{}^$#&-~/")


@dataclass(frozen=True)
class AnswerConstraint:
    """The answer after ``marker``: an integer (``words`` None) or one of ``words`` or a
    comma list of them, then the end of the chain."""

    marker: str
    words: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.marker:
            raise ValueError("an answer constraint needs a marker")
        if self.words is not None and not self.words:
            raise ValueError("a word answer needs at least one word")

    def response_format(self, written: str = "", *, close: bool = False) -> ResponseFormat:
        """The response_format for what follows ``written`` (the chain's text so far: a
        direct cue, a repaired prefix, the text before a tool's result). ``close``: the
        chain has no room left, so its answer comes now."""
        return _compiled(self.grammar(written, close=close))

    def grammar(self, written: str = "", *, close: bool = False) -> str:
        """The Lark grammar of ``response_format``: one terminal, whose ways to go on are

        * a chain without the marker, then the marker and an answer (not when closing:
          then a newline at most before the marker);
        * the rest of a marker that ``written`` ends with, then an answer;
        * the rest of an answer that ``written``'s last marker began (a direct cue's
          "#### ", a repaired answer).

        One terminal, so that llguidance's lexer never has to choose between two at the
        same byte: the choice is the regular expression's."""
        ways = ['"\\n"? MARKER ANSWER' if close else "CHAIN MARKER ANSWER"]
        ways += [
            f"{_literal(self.marker[cut:])} ANSWER"
            for cut in range(1, len(self.marker))
            if written.endswith(self.marker[:cut])
        ]
        at = written.rfind(self.marker)
        rest = None if at < 0 else self._rest(written[at + len(self.marker) :])
        if rest is not None:
            ways.append(rest)
        return "\n".join(["start: ANSWERED", f"ANSWERED: {' | '.join(ways)}", *self._rules])

    def finished(self, text: str) -> bool:
        """Whether ``text`` (a whole chain) ends with its marker and a complete answer (the
        answer ``extract_answer`` reads: the one after the last marker)."""
        at = text.rfind(self.marker)
        return at >= 0 and self._answer.fullmatch(text[at + len(self.marker) :]) is not None

    @cached_property
    def _rules(self) -> list[str]:
        markers = [self.marker] if self.words is None else [self.marker, "####"]
        # text that holds no marker (a word chain not the number form's either: the
        # extractor would read an answer after it first)
        chain = " & ".join(["/(?s:.*)/", *(f"~/(?s:.*){_regex(m)}(?s:.*)/" for m in markers)])
        if self.words is None:
            item = '"-"? /[0-9]+/'
            answer = 'ANSWER: " "? ITEM'
        else:
            item = " | ".join(_literal(word) for word in self.words)
            answer = 'ANSWER: " "? ITEM ("," " "? ITEM)*'
        return [f"CHAIN: {chain}", f"MARKER: {_literal(self.marker)}", answer, f"ITEM: {item}"]

    @cached_property
    def _answer(self) -> re.Pattern[str]:
        if self.words is None:
            return re.compile(r" ?-?[0-9]+")
        item = "(?:" + "|".join(re.escape(word) for word in self.words) + ")"
        return re.compile(f" ?{item}(?:, ?{item})*")

    def _rest(self, after: str) -> str | None:
        """The rest of an answer of which ``after`` is written (None: ``after`` begins no
        answer), as a terminal expression; it may be empty only where the answer is."""
        if after == "":
            return "ANSWER"
        *done, last = [_unspaced(part) for part in after.split(",")]
        if self.words is None:
            if done:
                return None
            if last in ("", "-"):
                return "/[0-9]+/" if last else '"-"? /[0-9]+/'
            return "/[0-9]*/" if _INTEGER.fullmatch(last) else None
        if any(part not in self.words for part in done):
            return None
        more = '("," " "? ITEM)*'
        if last == "":
            # right after a comma a space may come; after the marker's space, the word
            return f'" "? ITEM {more}' if not after.endswith(" ") else f"ITEM {more}"
        rests = sorted({w[len(last) :] for w in self.words if w.startswith(last)})
        ends = [_literal(rest) for rest in rests if rest]
        if not ends:
            return more if rests else None
        return f"({' | '.join(ends)}){'?' if '' in rests else ''} {more}"


def _unspaced(part: str) -> str:
    """A list item as written, less the one space that may come before it."""
    return part[1:] if part.startswith(" ") else part


def plan_answer(
    prompt_format: PromptFormat | ChatPrompt, question: str, context: str | None
) -> AnswerConstraint | None:
    """The form of the answer to ``question`` in ``prompt_format``: None where it has none
    (a format without an answer marker, as a chat model's, or an answer form other than a
    number or a word)."""
    marker = getattr(prompt_format, "answer_marker", "")
    if not marker:
        return None
    if prompt_format.answer_form == "number":
        return AnswerConstraint(marker)
    if prompt_format.answer_form != "word":
        return None
    return AnswerConstraint(marker, answer_words(question, context, prompt_format.name))


def answer_words(question: str, context: str | None, family: str = "") -> tuple[str, ...]:
    """The words an answer to ``question`` about ``context`` may be: the story's and the
    question's words (story line numbers left out), each also in lower case and singular,
    and ``family``'s answers; sorted, so that a question's grammar is always the same."""
    text = " ".join([*story_lines(context).values(), question])
    words: set[str] = set(FAMILY_ANSWERS.get(family, ()))
    for word in _WORD.findall(text):
        words.update((word, word.lower(), singular(word.lower())))
    # extract_answer reads "answer" as a cue, never as the answer
    return tuple(sorted(w for w in words if w.lower() != "answer"))


def _regex(text: str) -> str:
    """``text`` matched literally inside a /.../ regex of llguidance's Lark."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _literal(text: str) -> str:
    return json.dumps(text)  # a Lark string literal (the words and markers are plain text)


_CACHE: dict[str, ResponseFormat] = {}
_CACHE_SIZE = 256


def _compiled(grammar: str) -> ResponseFormat:
    """The grammar as a response_format, made once (a chain's pauses and a search's chains
    ask again). Not validated first, as ``ResponseFormat.parse`` validates a caller's (1 ms
    a question): the grammars made here are well-formed by construction, and a matcher built
    from one would still report an error."""
    fmt = _CACHE.get(grammar)
    if fmt is None:
        from llguidance import LLMatcher

        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        fmt = _CACHE[grammar] = ResponseFormat("grammar", LLMatcher.grammar_from_lark(grammar))
    return fmt
