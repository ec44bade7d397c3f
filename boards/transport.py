"""What deployment needs from a device: a handful of file operations on one folder.

Paths are POSIX paths relative to the deployment folder, so the deploy logic is the
same for a local folder (an SD card's mounted root file system) and a host over SSH.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeReasonError


class TransportError(EdgeReasonError, RuntimeError):
    """A file operation or command on the target failed."""


class LockHeld(TransportError):
    """Another process holds the lock; `holder` is what it recorded in the lock file."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"the lock is held {holder}".rstrip())
        self.holder = holder


@dataclass(frozen=True)
class CommandResult:
    """How a command run on the target ended. Exit status 127 means 'not found',
    as a POSIX shell reports it."""

    returncode: int
    stdout: str
    stderr: str


COMMAND_NOT_FOUND = 127


class Target(ABC):
    """A deployment folder on a device."""

    @property
    @abstractmethod
    def description(self) -> str:
        """How to name the target in messages."""

    @abstractmethod
    def absolute(self, rel: str) -> str:
        """`rel` as a path on the device itself."""

    @abstractmethod
    def list_dir(self, rel: str) -> list[str]:
        """Entry names in the folder `rel`; [] if it does not exist."""

    @abstractmethod
    def read_link(self, rel: str) -> str | None:
        """What the symbolic link `rel` points to; None if there is no such link."""

    @abstractmethod
    def read_text(self, rel: str) -> str | None:
        """The UTF-8 text of the file `rel`; None if there is no such file."""

    @abstractmethod
    def make_dirs(self, rels: Sequence[str]) -> None:
        """Create the folders (and their parents) that do not exist yet."""

    @abstractmethod
    def upload_file(self, local: Path, rel: str) -> None:
        """Copy a local file to `rel`, whose folder exists and which must not exist yet:
        overwriting a file truncates it under any process that has it mapped (SIGBUS)."""

    @abstractmethod
    def sha256(self, rels: Sequence[str]) -> dict[str, str]:
        """Hex sha256 of each file, computed on the device; missing files are left out."""

    @abstractmethod
    def rename(self, rel: str, new_rel: str) -> None:
        """Rename a file or folder; fails if `new_rel` exists."""

    @abstractmethod
    def replace_symlink(self, rel: str, points_to: str) -> None:
        """Make `rel` a symbolic link to `points_to` in one atomic rename, so a reader
        sees either the old link or the new one, never none."""

    @abstractmethod
    def remove_tree(self, rel: str) -> None:
        """Delete a file or folder and everything in it; nothing if it does not exist."""

    @abstractmethod
    def lock(self, rel: str, holder: str) -> AbstractContextManager[None]:
        """Hold an exclusive lock on the file `rel` (created with its folders if needed)
        while the context lasts, with `holder` written into it; LockHeld, with what the
        holder wrote, if another process has it. The operating system drops the lock
        when its holder dies, so a killed process never leaves a stale lock."""

    @abstractmethod
    def run(
        self, argv: Sequence[str], cwd_rel: str, timeout: float, input: str | None = None
    ) -> CommandResult:
        """Run a program on the device in the folder `cwd_rel`, with `input` on its stdin
        (nothing otherwise): how a secret reaches the device without being on a command
        line, which other users of the device can read in `ps`."""
