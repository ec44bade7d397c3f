"""Splitting a document into passages, each with the lines it spans (for citations).

A paragraph is a run of lines that are not blank; paragraphs are merged while they fit in
``PASSAGE_WORDS`` words, and a longer one stays whole. A passage's text is its paragraphs,
stripped, joined by a blank line; ``first_line`` and ``last_line`` (1-based, counted as an
editor counts them) are where it starts and ends in the document.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSAGE_WORDS = 120


@dataclass(frozen=True)
class Chunk:
    """A passage of a document and the lines it spans."""

    text: str
    first_line: int
    last_line: int


def split_chunks(text: str, words: int = PASSAGE_WORDS) -> list[Chunk]:
    """The document's passages, in order (module docstring)."""
    chunks: list[Chunk] = []
    current: list[tuple[str, int, int]] = []  # paragraphs: text, first line, last line
    size = 0
    for paragraph in _paragraphs(text):
        length = len(paragraph[0].split())
        if current and size + length > words:
            chunks.append(_merge(current))
            current, size = [], 0
        current.append(paragraph)
        size += length
    if current:
        chunks.append(_merge(current))
    return chunks


def split_passages(text: str, words: int = PASSAGE_WORDS) -> list[str]:
    """The passages' texts alone."""
    return [chunk.text for chunk in split_chunks(text, words)]


def _paragraphs(text: str) -> list[tuple[str, int, int]]:
    paragraphs = []
    start = None
    lines = text.split("\n")
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip() and start is None:
            start = number
        elif not line.strip() and start is not None:
            body = "\n".join(lines[start - 1 : number - 1]).strip()
            paragraphs.append((body, start, number - 1))
            start = None
    return paragraphs


def _merge(paragraphs: list[tuple[str, int, int]]) -> Chunk:
    return Chunk("\n\n".join(p[0] for p in paragraphs), paragraphs[0][1], paragraphs[-1][2])
