"""Budget forcing: end a model's thinking after N generated tokens.

Once N tokens have been generated inside the thinking section, the closing tag's tokens
are inserted into the sequence as if the model had written them, and the model goes on
to write its answer (the "budget forcing" of s1, Muennighoff et al. 2025). This happens
at most once per reply, so the insertion never needs more room than one closing tag. The section
is tracked on the decoded text, so a tag that is one added token and a tag spelled in
several ordinary tokens are found alike.
"""

from __future__ import annotations

from .thinking import ThinkingSplitter, ThinkingTags


class ThinkingBudget:
    """Called after each generated token with its text; returns the tokens to insert."""

    def __init__(
        self, tags: ThinkingTags, budget: int, close_ids: list[int], *, inside: bool
    ) -> None:
        self._tracker = ThinkingSplitter(tags, inside=inside)
        self._budget = budget
        self._close_ids = close_ids
        self._spent = 0
        self._forced = False

    @property
    def reserved_tokens(self) -> int:
        """Tokens the insertion may add beyond max_new_tokens."""
        return len(self._close_ids)

    def after_token(self, text: str) -> list[int]:
        if self._forced:
            return []
        was_inside = self._tracker.inside
        self._tracker.feed(text)
        if not (was_inside and self._tracker.inside):
            return []
        self._spent += 1
        if self._spent < self._budget:
            return []
        self._forced = True
        return self._close_ids
