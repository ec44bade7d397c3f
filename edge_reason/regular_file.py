"""Opening the files a model is made of: regular files only.

A FIFO where a weight file is expected blocks its reader forever, and a device
such as /dev/zero feeds it without end, so every file the runtime reads is
opened without blocking, checked to be a regular file, and only then read.
"""

from __future__ import annotations

import io
import os
import stat

from .errors import ModelFormatError


class UnreadableFileError(ModelFormatError):
    """A path that cannot be opened as a regular file; `reason` says why, without the path."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def open_regular(path: str | os.PathLike[str]) -> io.FileIO:
    """`path` opened for reading, unbuffered, or an UnreadableFileError naming it if it
    is missing, unreadable or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UnreadableFileError(path, f"cannot open ({e.strerror or e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFileError(path, f"not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return io.FileIO(fd, "rb")


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise ModelFormatError(f"{path}: {size} bytes, more than the {limit} allowed")
        return read_all(f, size, path)


def read_all(f: io.FileIO, size: int, path: str | os.PathLike[str]) -> bytes:
    """The first `size` bytes of an open file, or an error if it is shorter."""
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(f.fileno(), min(size - done, 1 << 24), done)
        if not chunk:
            raise ModelFormatError(f"{path}: ends after {done} of {size} bytes (file changed?)")
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")
