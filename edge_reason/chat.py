"""A chat template joined to its tokenizer: what a chat turn needs beyond the prompt text.

End-of-turn tokens (generation stops at any of them): the model config's end-of-sequence
ids; the template's eos_token; and the added token the template writes right after an
assistant message's content, found by rendering a probe conversation (<|im_end|> for
ChatML templates, <|eot_id|> for Llama 3, <end_of_turn> for Gemma). A reply therefore
ends where the template would end it, even when the config's eos is another token.

The prompt is tokenized without the tokenizer's own special tokens when it already
starts with the BOS text (as transformers' templates write it), so BOS is never doubled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .chat_template import ChatTemplate, ChatTemplateError
from .text_stream import Detokenizer
from .thinking import ThinkingSplitter, ThinkingTags, find_thinking_tags, opens_thinking
from .thinking_budget import ThinkingBudget
from .tool_calls import TOOL_CALL_TAGS, ToolCallSyntax

_PROBE_QUESTION, _PROBE_ANSWER = "edge-reason probe question", "edge-reason probe answer"


@dataclass(frozen=True)
class ChatTurn:
    """How generating one chat reply differs from plain generation (Engine._run reads it:
    the end tokens for the decode loop, the rest for turning tokens into text)."""

    stop_token_ids: frozenset[int]
    detokenizer: Detokenizer
    starts_inside_thinking: bool
    thinking: ThinkingTags | None
    budget: ThinkingBudget | None

    @property
    def reserved_tokens(self) -> int:
        return self.budget.reserved_tokens if self.budget is not None else 0

    def forced_tokens(self, text: str) -> list[int]:
        """Tokens to insert after a generated token whose text was `text`."""
        return self.budget.after_token(text) if self.budget is not None else []

    def splitter(self) -> ThinkingSplitter:
        return ThinkingSplitter(self.thinking, inside=self.starts_inside_thinking)


class ChatFormat:
    """A template with the facts its tokenizer adds: thinking tags, end-of-turn tokens."""

    def __init__(self, template: ChatTemplate, tokenizer: Any, eos_token_ids: frozenset[int]):
        self.template = template
        self._tokenizer = tokenizer
        decoder = tokenizer.get_added_tokens_decoder()  # id -> AddedToken
        added = {t.content: i for i, t in decoder.items()}
        self.added_tokens = frozenset(added)
        special = {i for i, t in decoder.items() if t.special}
        self.thinking = find_thinking_tags(template.source, added)
        tags = (*_tag_texts(self.thinking), *TOOL_CALL_TAGS)
        tag_ids = {added[t] for t in tags if t in added}
        # Decoding skips special tokens; thinking and tool-call tags must stay visible.
        self._detokenizer: Detokenizer = (
            _SpecialsHidden(tokenizer, frozenset(special - tag_ids))
            if tag_ids & special
            else tokenizer
        )
        ends = {added.get(_token_after_answer(template, added) or "")}
        if template.eos_token:
            ends.add(tokenizer.token_to_id(template.eos_token))
        self.end_of_turn_ids = frozenset(eos_token_ids | {i for i in ends if i is not None})

    @cached_property
    def tool_syntax(self) -> ToolCallSyntax:
        """How this model writes tool calls (found by rendering probes: on first use)."""
        return ToolCallSyntax.detect(self.template, sorted(self.added_tokens))

    def encode(self, prompt: str) -> list[int]:
        bos = self.template.bos_token
        with_specials = not (bos and prompt.startswith(bos))
        return self._tokenizer.encode(prompt, add_special_tokens=with_specials).ids

    def turn(self, prompt: str, thinking_budget: int | None) -> ChatTurn:
        """The turn that answers `prompt` (the rendered template)."""
        inside = opens_thinking(prompt, self.thinking)
        budget = None
        if thinking_budget is not None:
            if not isinstance(thinking_budget, int) or thinking_budget < 1:
                raise ValueError(
                    f"thinking_budget must be a positive integer, got {thinking_budget!r}"
                )
            if self.thinking is None:
                raise ValueError(
                    f"{self.template.origin}: the model has no thinking tags, so "
                    "thinking_budget cannot apply"
                )
            close_ids = self._tokenizer.encode(self.thinking.close, add_special_tokens=False).ids
            budget = ThinkingBudget(self.thinking, thinking_budget, close_ids, inside=inside)
        return ChatTurn(self.end_of_turn_ids, self._detokenizer, inside, self.thinking, budget)


class _SpecialsHidden:
    """Decodes with special tokens, except the hidden ones, which are dropped."""

    def __init__(self, tokenizer: Any, hidden: frozenset[int]) -> None:
        self._tokenizer = tokenizer
        self._hidden = hidden

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        kept = [i for i in ids if i not in self._hidden] if skip_special_tokens else list(ids)
        return self._tokenizer.decode(kept, skip_special_tokens=False)


def _tag_texts(tags: ThinkingTags | None) -> tuple[str, ...]:
    return () if tags is None else (tags.open, tags.close)


def _token_after_answer(template: ChatTemplate, added: dict[str, int]) -> str | None:
    """The longest added token the template writes right after an assistant message."""
    probe = [
        {"role": "user", "content": _PROBE_QUESTION},
        {"role": "assistant", "content": _PROBE_ANSWER},
    ]
    try:
        text = template.render(probe, add_generation_prompt=False)
    except ChatTemplateError:  # e.g. a template that insists on a system message
        return None
    at = text.rfind(_PROBE_ANSWER)
    after = text[at + len(_PROBE_ANSWER) :] if at >= 0 else ""
    return max((t for t in added if t and after.startswith(t)), key=len, default=None)
