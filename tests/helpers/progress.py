"""Progress lines while a fixture builds something slow (trains a model, exports bundles).

pytest captures output, so a fixture that trains for minutes would leave the terminal
silent. ``building`` prints a line when the work starts, one every ``INTERVAL`` seconds
saying how far it is (from a background thread, so a step that takes long still gets its
line), and one when it is done; the lines go to pytest's terminal past the capture.
Outside pytest they go to stderr.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

INTERVAL = 20.0  # seconds between progress lines: never a silent minute

_config = None  # pytest's Config, set by tests/conftest.py
_lock = threading.Lock()


def attach(config) -> None:
    """Send progress lines to this pytest session's terminal."""
    global _config
    _config = config


def say(message: str) -> None:
    """Print one line on the terminal, past pytest's output capture."""
    with _lock:
        config = _config
        reporter = config and config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            print(message, file=sys.stderr, flush=True)
            return
        capture = config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(message)


class Build:
    """How far a build is: ``advance(done)`` after each step of ``total``."""

    def __init__(self, what: str, total: int | None, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.start = time.monotonic()

    def advance(self, done: int) -> None:
        self.done = done

    def status(self) -> str:
        elapsed = time.monotonic() - self.start
        if not self.total:
            return f"[building] {self.what}: {elapsed:.0f} s so far"
        share = self.done / self.total
        left = f", about {elapsed / share - elapsed:.0f} s left" if self.done else ""
        return (
            f"[building] {self.what}: {self.done}/{self.total} {self.unit} "
            f"({share:.0%}) in {elapsed:.0f} s{left}"
        )


@contextlib.contextmanager
def building(what: str, total: int | None = None, unit: str = "steps") -> Iterator[Build]:
    """Report on building `what` (done once, then cached) while the block runs."""
    build = Build(what, total, unit)
    say(f"[building] {what} (once; later runs take it from the cache)")
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(INTERVAL):
            say(build.status())

    reporter = threading.Thread(target=report, name="progress", daemon=True)
    reporter.start()
    try:
        yield build
    finally:
        stop.set()
        reporter.join()
    say(f"[built] {what} in {time.monotonic() - build.start:.0f} s")
