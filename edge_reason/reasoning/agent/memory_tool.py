"""The memory as a tool: ``search_memory`` returns the best passages, numbered for citing.

Every passage a search returns gets a number for the whole run ([1], [2], ...; one found
again keeps its number), so the final answer can cite it, and the verifier can tell a cited
passage the agent actually saw from one it made up.
"""

from __future__ import annotations

from ..errors import RetrievalError
from ..retrieval import Passage
from ..tools import Tool
from .model import Memory

SEARCH_MEMORY = "search_memory"
PASSAGES_PER_SEARCH = 2
QUERY_CHARS = 100
PASSAGE_CHARS = 300  # of each passage in an observation: a small model's context is short
_PARAMETERS = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": QUERY_CHARS}},
    "required": ["query"],
}


class ObservedPassages:
    """The passages a run's searches returned, in the order they were first seen."""

    def __init__(self, memory: Memory, k: int = PASSAGES_PER_SEARCH) -> None:
        self.memory = memory
        self.k = k
        self.passages: list[Passage] = []

    def tool(self) -> Tool:
        """``search_memory`` over this memory, numbering what it finds here."""
        return Tool(
            SEARCH_MEMORY,
            "Search the notes in memory for facts; cite a passage by its number, as [1]",
            self.search,
            _PARAMETERS,
        )

    def search(self, query: str) -> str:
        """The best passages for ``query`` as lines ``[n] source ref: text``."""
        try:
            found = self.memory.search(query, self.k)
        except RetrievalError as error:
            raise ValueError(str(error)) from None
        if not found:
            return "no passage matches"
        return "\n".join(f"[{self.number(p)}] {p.source}: {_shortened(p.text)}" for p in found)

    def number(self, passage: Passage) -> int:
        """The passage's number in this run (a new one is numbered after the others)."""
        for number, seen in enumerate(self.passages, start=1):
            if (seen.source, seen.ref) == (passage.source, passage.ref):
                return number
        self.passages.append(passage)
        return len(self.passages)


def _shortened(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PASSAGE_CHARS else flat[: PASSAGE_CHARS - 1] + "…"
