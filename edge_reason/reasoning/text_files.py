"""Reading a text file the user names: a regular file of bounded size that is not binary.

A FIFO blocks until a writer comes and ``/dev/zero`` never ends, so anything that is not a
regular file is refused before it is opened; a file is read up to ``max_bytes`` only, and one
holding a NUL byte is binary, not text. Each refusal is an ``UnreadableFile`` saying why.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnreadableFile(Exception):
    """A file that is not read as text; the message says why (without the file's name)."""


def read_text_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``max_bytes``."""
    try:
        _check_regular(os.stat(path), max_bytes)  # before opening: a FIFO would wait
        # O_NONBLOCK: should the file have been swapped for a FIFO since, opening returns
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as file:
            _check_regular(os.fstat(file.fileno()), max_bytes)
            return read_text_stream(file, max_bytes)  # a file that grew since is caught
    except OSError as error:
        raise UnreadableFile(f"cannot read ({error.strerror or error})") from None


def read_text_stream(stream: BinaryIO, max_bytes: int) -> bytes:
    """What ``stream`` holds (standard input, say), refused past ``max_bytes``."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if b"\0" in data:
        raise UnreadableFile("binary (holds NUL bytes)")
    return data


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(f"not a regular file ({_file_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        raise _too_large(max_bytes)


def _too_large(max_bytes: int) -> UnreadableFile:
    return UnreadableFile(f"larger than the limit of {max_bytes} bytes")


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
        stat.S_ISDIR: "a folder",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "not a file")
