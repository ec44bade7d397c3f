"""Citations of retrieved notes: ``[1]``, ``[2]`` in a chain name the notes in prompt order.

A citation is supported only when the note exists and shares the answer's content words
(its words minus stop words): a chain cannot earn a ✓ by citing a note that says nothing
about what it answers. A chain that cites no note is attributed to the notes that support
its answer, best first, so the answer still points to where it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .retrieval import STOP_WORDS, Passage
from .verifier import Chain, Finding

CITATION = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"\w+")
# Share of the answer's content words a note must hold to support it: "below 30%" in an
# answer about the valve needs the note to say valve, moisture, 30 ... not just "greenhouse".
SUPPORT_SHARE = 0.5


@dataclass(frozen=True)
class NoteCitation:
    """A note an answer cites: ``number`` as in the prompt ([1] is the first note)."""

    number: int
    note: Passage
    supported: bool
    written: bool  # the chain wrote [number]; False: attributed by the answer's words


def content_words(text: str) -> set[str]:
    """Lower-case words without stop words and citation numbers (``[1]`` is not content)."""
    words = _WORD.findall(CITATION.sub(" ", text).lower())
    return {w for w in words if w not in STOP_WORDS}


def support_share(answer: str, note: str) -> float:
    """The share of the answer's content words the note holds (0.0 for an empty answer)."""
    wanted = content_words(answer)
    return len(wanted & content_words(note)) / len(wanted) if wanted else 0.0


def cited_numbers(text: str) -> list[int]:
    """The note numbers ``text`` cites, in order of first mention."""
    return list(dict.fromkeys(int(n) for n in CITATION.findall(text)))


def cite_notes(
    chain: str, notes: Sequence[Passage], answer: str | None, *, marked: bool = True
) -> list[NoteCitation]:
    """The notes ``chain`` cites (each checked against ``answer``) or, when it cites none,
    the notes that support ``answer``, best supported first. ``marked``: the prompt numbered
    the notes [1], [2] (otherwise a "[1]" in the chain is no citation)."""
    written = [n for n in cited_numbers(chain) if 1 <= n <= len(notes)] if marked else []
    if written:
        return [
            NoteCitation(n, notes[n - 1], _supports(answer, notes[n - 1]), True) for n in written
        ]
    if answer is None:
        return []
    shares = [(support_share(answer, note.text), n) for n, note in enumerate(notes, start=1)]
    # best supported first; among equals, the better retrieved (earlier) note
    ranked = sorted((-s, n) for s, n in shares if s >= SUPPORT_SHARE)
    return [NoteCitation(n, notes[n - 1], True, False) for _, n in ranked]


def check_note_citations(chain: Chain) -> list[Finding]:
    """A finding per ``[n]`` the chain writes: the note must exist and support the answer.
    A chain after a prompt without numbered notes (``Chain.notes`` empty) cites none."""
    if not chain.notes:
        return []
    findings = []
    for match in CITATION.finditer(chain.text):
        number = int(match.group(1))
        if not 1 <= number <= len(chain.notes):
            detail = f"cites note [{number}] but the prompt held {len(chain.notes)} note(s)"
            findings.append(Finding(match.span(), False, detail))
        elif chain.answer is None:
            detail = f"cites note [{number}] but no answer follows"
            findings.append(Finding(match.span(), False, detail))
        else:
            ok = _supports(chain.answer, chain.notes[number - 1])
            verb = "supports" if ok else "does not support"
            findings.append(Finding(match.span(), ok, f"note [{number}] {verb} the answer"))
    return findings


def _supports(answer: str | None, note: Passage) -> bool:
    return answer is not None and support_share(answer, note.text) >= SUPPORT_SHARE
