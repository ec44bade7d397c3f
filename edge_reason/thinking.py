"""The thinking part of a reasoning model's reply: its tags, and a splitter that sorts
streamed text into reasoning and answer.

    >>> tags = ThinkingTags("<think>", "</think>")
    >>> splitter = ThinkingSplitter(tags, inside=False)
    >>> splitter.feed("<think>\\n2+2 is 4</th") + splitter.feed("ink>\\n\\nIt is 4.")
    [ChatPiece(text='2+2 is 4', kind='reasoning'), ChatPiece(text='It is 4.', kind='answer')]
    >>> splitter.flush()
    []

Which tags a model uses (find_thinking_tags), first match wins:
1. the tokenizer's added tokens: a pair ``<X>`` and ``</X>`` whose name X contains
   "think", "reason" or "thought" (Qwen3's <think>, other models' <reasoning>, ...);
2. the chat template's text: the first ``<X>`` with such a name whose ``</X>`` it also has
   (DeepSeek-R1-Distill opens <think> in its generation prompt without an added token);
3. otherwise the model has no thinking tags and all of its text is the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

_TAG_NAME = re.compile(r"<([A-Za-z_]*(?:think|reason|thought)[A-Za-z_]*)>", re.IGNORECASE)


@dataclass(frozen=True)
class ThinkingTags:
    open: str
    close: str


@dataclass(frozen=True)
class ChatPiece:
    """A piece of streamed chat output: part of the model's reasoning or of its answer."""

    text: str
    kind: Literal["reasoning", "answer"]


def find_thinking_tags(template: str, added_tokens: Iterable[str]) -> ThinkingTags | None:
    """The model's thinking tags by the rule in the module docstring, or None."""
    added = set(added_tokens)
    for token in sorted(added):
        match = _TAG_NAME.fullmatch(token)
        if match and f"</{match.group(1)}>" in added:
            return ThinkingTags(token, f"</{match.group(1)}>")
    for match in _TAG_NAME.finditer(template):
        if f"</{match.group(1)}>" in template:
            return ThinkingTags(match.group(0), f"</{match.group(1)}>")
    return None


def opens_thinking(prompt: str, tags: ThinkingTags | None) -> bool:
    """Whether the prompt leaves a thinking section open (a generation prompt ending in
    <think>), so that the reply starts inside it."""
    return tags is not None and prompt.rfind(tags.open) > prompt.rfind(tags.close)


class ThinkingSplitter:
    """Sorts text fed in pieces into reasoning and answer pieces, dropping the tags.

    Each part comes out stripped of the whitespace at its ends (the newlines around
    tags): trailing whitespace is held back until text follows it in the same part.
    Text that may be the start of a tag is held back until it is known not to be.
    A stray closing tag in the answer is kept as text.
    """

    def __init__(self, tags: ThinkingTags | None, *, inside: bool) -> None:
        self.tags = tags
        self.inside = inside  # in the reasoning part
        self._pending = ""
        self._started = False  # this part has produced text

    def feed(self, text: str) -> list[ChatPiece]:
        self._pending += text
        out: list[ChatPiece] = []
        while self.tags is not None:
            tag = self.tags.close if self.inside else self.tags.open
            at = self._pending.find(tag)
            if at < 0:
                keep = _partial_suffix(self._pending, tag)
                self._release(len(self._pending) - keep, out)
                return out
            self._release(at, out)
            self._pending = self._pending.lstrip()[len(tag) :]  # held whitespace goes
            self.inside, self._started = not self.inside, False
        self._release(len(self._pending), out)
        return out

    def flush(self) -> list[ChatPiece]:
        """The text still held back (a partial tag is text after all)."""
        out: list[ChatPiece] = []
        self._release(len(self._pending), out)
        self._pending = ""
        return out

    def _release(self, end: int, out: list[ChatPiece]) -> None:
        """Emit pending[:end], except its trailing whitespace, which stays pending."""
        text, rest = self._pending[:end], self._pending[end:]
        if not self._started:
            text = text.lstrip()
        body = text.rstrip()
        if body:
            out.append(ChatPiece(body, "reasoning" if self.inside else "answer"))
            self._started = True
        self._pending = text[len(body) :] + rest


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is a proper start of `tag`."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
