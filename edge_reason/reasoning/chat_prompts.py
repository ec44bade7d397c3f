"""Prompts for a chat model: the question as chat messages, rendered by the model's template.

A chat model was tuned on conversations, not on the raw completion formats of prompts.py:
it is told how to answer in a system message (reason step by step, cite notes as [1], end
with "Answer: ..."), and the user message holds the numbered notes, the story and the
question. A ``ChatPrompt`` serves the strategies as a ``PromptFormat`` does (``render``,
cues, answer form), so the pass question → prompt → generate → verify stays the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .prompts import story_lines
from .retrieval import Passage

if TYPE_CHECKING:
    from edge_reason.engine import Engine

Messages = list[dict[str, Any]]

_ENDING = 'End with a line "Answer: " followed by the answer.'
_SYSTEM = {
    "qa": f"Answer the user's question. Reason step by step in a few short sentences. {_ENDING}",
    "babi": (
        "Answer the question about the numbered story. Reason step by step from the story "
        f"lines. {_ENDING}"
    ),
    "gsm8k": (
        "Solve the problem step by step. Write each calculation as an equation, like "
        '12 * 3 = 36. End with a line "Answer: " followed by the number.'
    ),
}
_NOTES_RULE = " Use the numbered notes and cite the ones you use as [1], [2]."
_ANSWER_FORMS = {"qa": "sentence", "babi": "sentence", "gsm8k": "last_number"}
_MAX_NEW_TOKENS = {"qa": 160, "babi": 160, "gsm8k": 256}


@dataclass(frozen=True)
class ChatPrompt:
    """How to ask a chat model one family of questions, and how to read its answer."""

    name: str
    system: str
    answer_form: str
    template: Callable[[Messages], str]  # messages -> prompt text, ready for generation
    max_new_tokens: int = 160
    chain_cue: str = ""  # the system message asks for the reasoning already
    direct_cue: str = "Answer:"  # prefilled in the reply to get the answer alone
    feedback: str = "A previous answer was wrong: {failure}. Answer again."
    stop: tuple[str, ...] = ()
    marks_notes: ClassVar[bool] = True  # notes are numbered [1], [2]: the chain cites them so

    def accepts(self, question: str) -> bool:
        """A chat model may be asked anything."""
        return True

    def messages(
        self,
        question: str,
        context: str | None = None,
        notes: Sequence[Passage] = (),
        *,
        failure: str | None = None,
    ) -> Messages:
        """The system message, then one user message: notes, story, question (and the
        verifier's finding on regeneration)."""
        parts = []
        if notes:
            numbered = (f"[{n}] {note.text.strip()}" for n, note in enumerate(notes, start=1))
            parts.append("Notes:\n" + "\n".join(numbered))
        if context and context.strip():
            parts.append("Story:\n" + "\n".join(story_lines(context, numbered=True)))
        parts.append(f"Question: {question.strip()}")
        if failure is not None:
            parts.append(self.feedback.format(failure=failure))
        system = self.system + (_NOTES_RULE if notes else "")
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def render(
        self,
        question: str,
        context: str | None = None,
        notes: Sequence[Passage] = (),
        *,
        failure: str | None = None,
    ) -> str:
        """The prompt up to where the model writes its reply."""
        return self.template(self.messages(question, context, notes, failure=failure))


def is_chat_model(engine: Engine | None) -> bool:
    """An engine with a chat template that is not a bundle declaring its own prompt formats
    (such a bundle was trained on those, and keeps them)."""
    manifest = getattr(engine, "manifest", None) or {}
    return getattr(engine, "chat_template", None) is not None and not manifest.get("prompt_formats")


def chat_formats(engine: Engine) -> dict[str, ChatPrompt]:
    """A chat prompt per task family (the names ``choose_format`` picks), rendered through
    ``engine.apply_chat_template``."""

    def template(messages: Messages) -> str:
        return engine.apply_chat_template(messages, add_generation_prompt=True)

    return {
        family: ChatPrompt(
            name=family,
            system=system,
            answer_form=_ANSWER_FORMS[family],
            template=template,
            max_new_tokens=_MAX_NEW_TOKENS[family],
        )
        for family, system in _SYSTEM.items()
    }
