"""What the agent needs of a model and of a memory: two small protocols.

The agent only ever calls ``chat(messages, response_format=..., max_new_tokens=...,
temperature=..., time_limit_s=...)`` and reads the reply's text, finish reason and token
counts, so a scripted stand-in (tests) or another runtime can take the Engine's place.
Memory is anything with ``search(query, k) -> list[Passage]``: the keyword DocumentStore, or
a hybrid (keyword + vector) store with the same method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..retrieval import Passage


class ReplyStats(Protocol):
    """The counts of one reply (``edge_reason.engine.GenerationStats`` has them)."""

    @property
    def prompt_tokens(self) -> int: ...
    @property
    def generated_tokens(self) -> int: ...
    @property
    def prefill_seconds(self) -> float: ...
    @property
    def decode_seconds(self) -> float: ...


class Reply(Protocol):
    """A chat reply (``edge_reason.engine.Generation``): its text and how it ended."""

    @property
    def text(self) -> str: ...
    @property
    def finish_reason(self) -> str: ...
    @property
    def stats(self) -> ReplyStats: ...


class ChatModel(Protocol):
    """A model the agent can ask: ``Engine.chat`` with keyword sampling options."""

    def chat(self, messages: Sequence[dict[str, Any]], **options: Any) -> Reply: ...


class Memory(Protocol):
    """A store of passages searched by meaning or by words, best first."""

    def search(self, query: str, k: int = 3) -> list[Passage]: ...
