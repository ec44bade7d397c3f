"""Fitting retrieved notes into the model's context.

A note can be far longer than the context (a long paragraph stays one passage), so the
prompt is checked before it runs: the least relevant note is cut to the words that fit, or
left out when none fit, until the prompt leaves room for the chain. Each cut is reported. A
prompt without notes is left as it is (its chain gets what room there is) unless it is longer
than the whole context: that is a clear error, not the engine's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .errors import ContextLengthError
from .retrieval import Passage

PromptTokens = Callable[[Sequence[Passage]], int]  # the prompt's length with these notes


def fit_notes(
    notes: Sequence[Passage], prompt_tokens: PromptTokens, room: int, max_context: int
) -> tuple[tuple[Passage, ...], list[str]]:
    """The notes (best first) cut so that ``prompt_tokens(notes) <= room``, and a remark per
    cut. Raises ContextLengthError when the prompt without notes exceeds ``max_context``."""
    kept = list(notes)
    remarks = []
    # A word is at least one token, so more than ``room`` words never fit: no more are
    # encoded (a million-word passage took seconds to encode, at every step of the search).
    while kept and prompt_tokens(_at_most(kept, room + 1)) > room:
        last, words = kept[-1], kept[-1].text.split()

        def cut(n: int, last: Passage = last, words: list[str] = words) -> Passage:
            return replace(last, text=" ".join(words[:n]) + " …")

        fits = _longest(
            min(len(words) - 1, room), lambda n: prompt_tokens([*kept[:-1], cut(n)]) <= room
        )
        if fits:
            kept[-1] = cut(fits)
            remarks.append(
                f"{last.source} {last.ref} cut to {fits} of {len(words)} words to fit the context"
            )
        else:
            kept.pop()
            remarks.append(f"{last.source} {last.ref} left out: no room in the context")
    needed = prompt_tokens(kept)
    if needed > max_context:
        raise ContextLengthError(
            f"the question's prompt has {needed} tokens but the model's context holds "
            f"{max_context}: shorten the question or its story"
        )
    return tuple(kept), remarks


def _at_most(notes: list[Passage], words: int) -> list[Passage]:
    """The notes, each longer than ``words`` words cut to that many."""
    return [
        replace(n, text=" ".join(n.text.split()[:words])) if len(n.text.split()) > words else n
        for n in notes
    ]


def _longest(most: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [1, most] with fits(n) (fits is monotone), or 0 if there is none."""
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
