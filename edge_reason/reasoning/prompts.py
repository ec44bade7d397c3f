"""Prompt formats per task family: how a question (with its story and notes) becomes a prompt.

A format is declared as a dict (the shape a model bundle's manifest or a JSON file holds):

    {"name": "gsm8k", "template": "Question: {question}\\nAnswer: ",
     "answer_form": "number", "exemplars": {"file": "train.jsonl", "limit": 4}}

``template`` may use ``{question}``, ``{context}`` (the story, lines numbered when
``number_context`` is set) and ``{notes}`` (retrieved passages). Few-shot exemplars are listed
inline or read from a JSONL file (``question``, ``answer`` = the worked solution, optional
``context``). Built-in formats: ``babi`` (the trained story format: numbered story lines, the
question, then ``Facts: N.`` and ``Answer: word``), ``gsm8k`` (a solution ending ``#### N``)
and ``qa``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import DataFormatError, PromptFormatError
from .extract import ANSWER_FORMS
from .retrieval import Passage

TEMPLATE_FIELDS = frozenset({"question", "context", "notes"})


@dataclass(frozen=True)
class Exemplar:
    """A worked example shown before the question."""

    question: str
    solution: str
    context: str | None = None


@dataclass(frozen=True)
class PromptFormat:
    """How to prompt a model for one task family, and how to read its answer."""

    # notes are shown as "Note passage 1 (source)", so "[1]" in a chain (an addition
    # scratchpad's digit slot) is no citation
    marks_notes: ClassVar[bool] = False
    name: str
    template: str = "{notes}{context}Question: {question}\n"
    instruction: str = ""  # text before everything else
    exemplars: tuple[Exemplar, ...] = ()
    separator: str = "\n\n"  # between exemplars and before the question
    number_context: bool = False  # prefix story lines with 1, 2, ... when unnumbered
    chain_cue: str = ""  # appended to the prompt to ask for a reasoning chain
    direct_cue: str = "Answer:"  # appended to ask for the answer alone
    answer_form: str = "line"  # see extract.extract_answer
    # the text the model was trained to write before its final answer ("####", "Answer:"):
    # with a "number" or "word" answer form, what follows it is constrained to an answer of
    # that form (answer_constraint.py); "" leaves the whole chain free
    answer_marker: str = ""
    # stated after the question when a chain is regenerated; "" for a model trained without
    # such text (it then draws a fresh chain from the same prompt)
    feedback: str = "(A previous attempt was wrong: {failure}.)\n"
    stop: tuple[str, ...] = ()  # strings that end a chain
    max_new_tokens: int = 160
    # a regular expression the whole question must match for the model to be asked (a model
    # trained on one kind of question says so; "" takes any question)
    question_pattern: str = ""

    def __post_init__(self) -> None:
        _check_template("template", self.template, TEMPLATE_FIELDS)
        try:
            re.compile(self.question_pattern)
        except re.error as error:
            raise PromptFormatError(
                f"format {self.name!r}: question_pattern {self.question_pattern!r}: {error}"
            ) from None
        _check_template("feedback", self.feedback, frozenset({"failure"}))
        if self.answer_form not in ANSWER_FORMS:
            raise PromptFormatError(
                f"format {self.name!r}: answer_form must be one of {ANSWER_FORMS}, "
                f"got {self.answer_form!r}"
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise PromptFormatError(
                f"format {self.name!r}: max_new_tokens must be a positive integer"
            )
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise PromptFormatError(f"format {self.name!r}: stop must be non-empty strings")

    def accepts(self, question: str) -> bool:
        """Whether the model may be asked ``question`` in this format."""
        pattern = self.question_pattern
        return not pattern or re.fullmatch(pattern, question.strip()) is not None

    def render(
        self,
        question: str,
        context: str | None = None,
        notes: Sequence[Passage] = (),
        *,
        failure: str | None = None,
    ) -> str:
        """The prompt up to where the model writes: exemplars, then the question.

        ``failure`` (a verifier's finding) is stated after the question on regeneration.
        """
        shots = [self._question(e.question, e.context, ()) + e.solution for e in self.exemplars]
        asked = self._question(question, context, notes)
        if failure is not None:
            asked += self.feedback.format(failure=failure)
        return self.instruction + "".join(shot + self.separator for shot in shots) + asked

    def _question(self, question: str, context: str | None, notes: Sequence[Passage]) -> str:
        return self.template.format(
            question=question.strip(),
            context=self._context(context),
            notes="".join(f"Note {n.ref} ({n.source}): {n.text.strip()}\n" for n in notes),
        )

    def _context(self, context: str | None) -> str:
        lines = story_lines(context, numbered=self.number_context)
        return "".join(line + "\n" for line in lines)

    def to_dict(self) -> dict[str, Any]:
        """The declaration ``from_dict`` reads back (what a bundle's bundle.json carries)."""
        values = asdict(self)
        values["stop"] = list(self.stop)
        values["exemplars"] = [
            {"question": e.question, "answer": e.solution}
            | ({"context": e.context} if e.context is not None else {})
            for e in self.exemplars
        ]
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<format>") -> PromptFormat:
        """Build a format from its declaration; unknown keys and bad values are errors.

        ``where`` names the declaration in messages; relative exemplar files are resolved
        against the folder of ``where`` when it is a file path.
        """
        if not isinstance(data, Mapping):
            raise PromptFormatError(f"{where}: a prompt format must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PromptFormatError(
                f"{where}: unknown prompt format key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise PromptFormatError(f"{where}: 'name' must be non-empty text")
        values = dict(data)
        for key in (
            "question_pattern",
            "template",
            "instruction",
            "separator",
            "chain_cue",
            "direct_cue",
            "answer_form",
            "answer_marker",
            "feedback",
        ):
            if key in values and not isinstance(values[key], str):
                raise PromptFormatError(f"{where}: {key!r} must be text")
        if "number_context" in values and not isinstance(values["number_context"], bool):
            raise PromptFormatError(f"{where}: 'number_context' must be true or false")
        if "stop" in values:
            values["stop"] = _text_list(values["stop"], "stop", where)
        if "exemplars" in values:
            values["exemplars"] = _exemplars(values["exemplars"], where)
        try:
            return cls(**values)
        except PromptFormatError as error:
            raise PromptFormatError(f"{where}: {error}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> PromptFormat:
        """Load a format declared as a JSON object in ``path``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise PromptFormatError(f"{path}: cannot read ({error})") from None
        except json.JSONDecodeError as error:
            raise PromptFormatError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
        return cls.from_dict(data, str(path))


def story_lines(context: str | None, *, numbered: bool) -> list[str]:
    """The story's non-blank lines, stripped; ``numbered``: unnumbered lines get 1, 2, ..."""
    lines = [line.strip() for line in (context or "").splitlines() if line.strip()]
    if not numbered:
        return lines
    return [
        line if line.split(" ", 1)[0].isdigit() else f"{i} {line}"
        for i, line in enumerate(lines, start=1)
    ]


def _text_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PromptFormatError(f"{where}: {key!r} must be non-empty text or a list of it")
    return tuple(value)


def _exemplars(value: Any, where: str) -> tuple[Exemplar, ...]:
    """Inline exemplars (a list of objects) or ``{"file": path, "limit": n}``."""
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"file", "limit"})
        if extra or not isinstance(value.get("file"), str):
            raise PromptFormatError(
                f'{where}: \'exemplars\' must be a list or {{"file": path, "limit": n}}'
            )
        limit = value.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise PromptFormatError(f"{where}: exemplars 'limit' must be an integer >= 0")
        base = Path(where).parent if Path(where).is_file() else Path.cwd()
        return read_exemplars(base / value["file"], limit)
    if not isinstance(value, list):
        raise PromptFormatError(f"{where}: 'exemplars' must be a list")
    return tuple(_exemplar(item, f"{where}: exemplar {i + 1}") for i, item in enumerate(value))


def read_exemplars(path: str | Path, limit: int | None = None) -> tuple[Exemplar, ...]:
    """Exemplars from a JSONL file (``question``, ``answer`` = solution, optional ``context``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read exemplars ({error})") from None
    exemplars = []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(exemplars) >= limit:
            break
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{path}:{number}: invalid JSON ({error.msg})") from None
        exemplars.append(_exemplar(record, f"{path}:{number}"))
    return tuple(exemplars)


def _exemplar(record: Any, where: str) -> Exemplar:
    if not isinstance(record, Mapping):
        raise DataFormatError(f"{where}: an exemplar must be an object")
    solution = record.get("solution", record.get("answer"))
    context = record.get("context")
    if not isinstance(record.get("question"), str) or not isinstance(solution, str):
        raise DataFormatError(f"{where}: an exemplar needs text 'question' and 'answer'")
    if context is not None and not isinstance(context, str):
        raise DataFormatError(f"{where}: an exemplar's 'context' must be text")
    return Exemplar(record["question"], solution, context)


def _check_template(key: str, template: str, allowed: frozenset[str]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise PromptFormatError(f"{key} {template!r}: {error}") from None
    unknown = sorted(names - allowed)
    if unknown:
        raise PromptFormatError(
            f"{key} {template!r} uses unknown field(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


BUILTIN_FORMATS = {
    "babi": PromptFormat(
        name="babi",
        template="{notes}{context}{question}\n",
        number_context=True,
        direct_cue="",
        answer_form="word",
        answer_marker="Answer:",
        max_new_tokens=24,
    ),
    "gsm8k": PromptFormat(
        name="gsm8k",
        template="{notes}{context}Question: {question}\nAnswer: ",
        direct_cue="#### ",
        answer_form="number",
        answer_marker="####",
        stop=("\n\nQuestion:", "\nQuestion:"),
        max_new_tokens=256,
    ),
    "qa": PromptFormat(name="qa", chain_cue="Let's think step by step.\n"),
}


def choose_format(
    question: str, context: str | None, formats: Mapping[str, PromptFormat]
) -> PromptFormat:
    """The format for a question: ``babi`` with a story, ``gsm8k`` when it holds numbers,
    else ``qa`` (each looked up in ``formats`` so callers can replace them)."""
    if context and context.strip():
        family = "babi"
    elif any(ch.isdigit() for ch in question):
        family = "gsm8k"
    else:
        family = "qa"
    return formats.get(family) or BUILTIN_FORMATS[family]
