"""How long work reports its progress: a context per step, and a callable that advances it.

The API stays silent by default; the command line passes a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Progress(Protocol):
    def __call__(self, label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        """A context for one step of `total` units; the callable advances it."""


@contextmanager
def silent(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None
