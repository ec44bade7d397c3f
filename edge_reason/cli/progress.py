"""The command line's progress bar (an edge_reason.progress.Progress)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    # stderr: with --json, stdout carries the summary document only; click shows the
    # time left once a few units are done
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True) as bar:
        yield bar.update
