"""Reading a text file the user names: a regular file of bounded size that is not binary.

A FIFO blocks until a writer comes and ``/dev/zero`` never ends, so anything that is not a
regular file is refused without waiting on it; a file is read up to ``max_bytes`` only, and one
holding a NUL byte is binary, not text. Each refusal is an ``UnreadableFile`` saying why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from ..regular_file import UnreadableFileError, open_regular


class UnreadableFile(Exception):
    """A file that is not read as text; the message says why (without the file's name)."""


def read_text_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``max_bytes``."""
    try:
        with open_regular(path) as file:
            if os.fstat(file.fileno()).st_size > max_bytes:
                raise _too_large(max_bytes)
            return read_text_stream(file, max_bytes)  # a file that grew since is caught
    except UnreadableFileError as error:
        raise UnreadableFile(error.reason) from None
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


def _too_large(max_bytes: int) -> UnreadableFile:
    return UnreadableFile(f"larger than the limit of {max_bytes} bytes")
