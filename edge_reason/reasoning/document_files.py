"""The documents under a folder that the document store indexes, and how their text is read.

Only regular files inside the folder are read: a symlink that leads out of it is skipped, and
so are FIFOs and devices (a FIFO blocks until a writer comes, ``/dev/zero`` never ends), files
larger than ``max_bytes`` and binary files (holding a NUL byte). Each is skipped with its
reason, so one bad file neither aborts the index nor passes unseen. Text is UTF-8; a file with
bytes that are not (Latin-1, say) is read with U+FFFD in their place and reported as such.
File names that are not UTF-8 are shown with their bytes escaped (``caf\\xe9.md``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
        except _Skip as skip:
            yield SkippedFile(name, str(skip))
        else:
            yield Document(name, text, replaced)


def _document_paths(folder: Path) -> list[Path]:
    paths = []
    for root, _, files in os.walk(folder):  # symlinked folders are listed, not followed
        paths += [Path(root, f) for f in files if Path(f).suffix in DOCUMENT_SUFFIXES]
    return sorted(paths)


class _Skip(Exception):
    """A file that is not read; the message says why."""


def _read_text(path: Path, inside: Path, max_bytes: int) -> tuple[str, bool]:
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(inside):
        raise _Skip(f"a link to {display_name(real)}, outside the folder")
    try:
        # checked before opening: opening a FIFO would wait for a writer
        _check_regular(os.stat(real), max_bytes)
        # O_NONBLOCK: should the file be swapped for a FIFO since, opening still returns
        descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as file:
            _check_regular(os.fstat(file.fileno()), max_bytes)
            data = file.read(max_bytes + 1)  # + 1: a file that grew since is still caught
    except OSError as error:
        raise _Skip(f"cannot read ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if b"\0" in data:
        raise _Skip("binary (holds NUL bytes)")
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise _Skip(f"not a regular file ({_file_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        raise _too_large(max_bytes)


def _too_large(max_bytes: int) -> _Skip:
    return _Skip(f"larger than the limit of {max_bytes} bytes")


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
        stat.S_ISDIR: "a folder",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "not a file")
