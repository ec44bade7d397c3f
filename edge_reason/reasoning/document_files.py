"""The documents under a folder that the document store indexes, and how their text is read.

Only regular files inside the folder are read: a symlink that leads out of it is skipped, and
so are FIFOs, devices, files larger than ``max_bytes`` and binary files (text_files.py). Each
is skipped with its reason, so one bad file neither aborts the index nor passes unseen. Text
is UTF-8; a file with bytes that are not (Latin-1, say) is read with U+FFFD in their place
and reported as such. File names that are not UTF-8 are shown with their bytes escaped
(``caf\\xe9.md``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .text_files import UnreadableFile, read_text_bytes

DOCUMENT_SUFFIXES = (".md", ".txt")
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """A document's text; ``replaced``: some of its bytes were not UTF-8 and became U+FFFD."""

    name: str
    text: str
    replaced: bool


@dataclass(frozen=True)
class SkippedFile:
    """A document file that was not indexed, and why."""

    name: str
    reason: str


def display_name(path: Path) -> str:
    """``path`` as text that can be stored and printed: bytes of a name that are not UTF-8
    are escaped (the surrogates Python decodes them to cannot be encoded)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_documents(folder: Path, max_bytes: int) -> Iterator[Document | SkippedFile]:
    """Every .md/.txt file under ``folder`` (sorted; linked folders are not entered), read
    or skipped with the reason."""
    inside = folder.resolve()
    for path in _document_paths(folder):
        name = display_name(path)
        try:
            text, replaced = _read_text(path, inside, max_bytes)
        except UnreadableFile as skip:
            yield SkippedFile(name, str(skip))
        else:
            yield Document(name, text, replaced)


def _document_paths(folder: Path) -> list[Path]:
    paths = []
    for root, _, files in os.walk(folder):  # symlinked folders are listed, not followed
        paths += [Path(root, f) for f in files if Path(f).suffix in DOCUMENT_SUFFIXES]
    return sorted(paths)


def _read_text(path: Path, inside: Path, max_bytes: int) -> tuple[str, bool]:
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(inside):
        raise UnreadableFile(f"a link to {display_name(real)}, outside the folder")
    data = read_text_bytes(real, max_bytes)
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True
