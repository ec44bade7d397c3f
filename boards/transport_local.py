"""Deploying into a folder of this machine, e.g. a Raspberry Pi's SD card mounted here."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..bundle_manifest import file_sha256
from .transport import COMMAND_NOT_FOUND, CommandResult, LockHeld, Target, TransportError


class LocalTarget(Target):
    """A deployment folder on a file system this machine can write."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        # checked here, not at the first mkdir inside it, whose OSError names a subfolder
        if self.root.exists() and not self.root.is_dir():
            raise TransportError(
                f"{root}: not a folder (a local target is a folder, created if missing)"
            )

    @property
    def description(self) -> str:
        return str(self.root)

    def absolute(self, rel: str) -> str:
        return str(self.root / rel)

    def list_dir(self, rel: str) -> list[str]:
        folder = self.root / rel
        return sorted(os.listdir(folder)) if folder.is_dir() else []

    def read_link(self, rel: str) -> str | None:
        path = self.root / rel
        return os.readlink(path) if path.is_symlink() else None

    def read_text(self, rel: str) -> str | None:
        path = self.root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def make_dirs(self, rels: Sequence[str]) -> None:
        for rel in rels:
            (self.root / rel).mkdir(parents=True, exist_ok=True)

    def upload_file(self, local: Path, rel: str) -> None:
        # fsync before the version is activated: an SD card may be pulled right after.
        with open(local, "rb") as source, open(self.root / rel, "xb") as dest:
            shutil.copyfileobj(source, dest)
            dest.flush()
            os.fsync(dest.fileno())

    def sha256(self, rels: Sequence[str]) -> dict[str, str]:
        return {rel: file_sha256(self.root / rel) for rel in rels if (self.root / rel).is_file()}

    def rename(self, rel: str, new_rel: str) -> None:
        # os.rename would silently replace an empty folder at new_rel.
        if os.path.lexists(self.root / new_rel):
            raise TransportError(f"cannot rename {rel} to {new_rel} in {self.root}: it exists")
        os.rename(self.root / rel, self.root / new_rel)

    def replace_symlink(self, rel: str, points_to: str) -> None:
        link = self.root / rel
        temporary = link.with_name(f".{link.name}.{secrets.token_hex(6)}.tmp")
        os.symlink(points_to, temporary)
        try:
            os.replace(temporary, link)
        except OSError:
            temporary.unlink()
            raise
        _fsync_dir(link.parent)

    def remove_tree(self, rel: str) -> None:
        path = self.root / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)

    @contextmanager
    def lock(self, rel: str, holder: str) -> Iterator[None]:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # flock, not a lock file's existence: the kernel releases it when the process dies.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeld(path.read_text(encoding="utf-8", errors="replace").strip()) from None
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{holder}\n".encode())
            yield
        finally:
            os.close(descriptor)

    def run(
        self, argv: Sequence[str], cwd_rel: str, timeout: float, input: str | None = None
    ) -> CommandResult:
        try:
            done = subprocess.run(
                list(argv),
                cwd=self.root / cwd_rel,
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            return CommandResult(COMMAND_NOT_FOUND, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            raise TransportError(f"{argv[0]} did not finish within {timeout:g} s") from None
        return CommandResult(done.returncode, done.stdout, done.stderr)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
