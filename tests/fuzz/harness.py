"""What every fuzz harness shares: one scratch folder reused by every input (a fresh
temporary folder per input would cost more than the code under test), a way to split
the fuzzer's bytes into parts, and the rule that only the project's named errors are
expected (EdgeReasonError, the rule packs' RuleError included): any other exception
escapes and is a finding."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from edge_reason.errors import EdgeReasonError

T = TypeVar("T")
SCRATCH = Path(tempfile.mkdtemp(prefix="edge-reason-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
# The separator of the parts one input holds (e.g. stop strings, then token ids).
PART_SEPARATOR = b"\x00"


def write_scratch(name: str, data: bytes) -> Path:
    """``data`` written as SCRATCH/name (replacing what an earlier input left)."""
    path = SCRATCH / name
    path.write_bytes(data)
    return path


def expected(*errors: type[BaseException]) -> suppress:
    """Swallow the project's named errors, and the ``errors`` the API under test documents."""
    return suppress(EdgeReasonError, *errors)


def attempt(call: Callable[..., T], *args: Any) -> T | None:
    """``call(*args)``, or None if it raised an expected error."""
    with expected():
        return call(*args)
    return None


def parts(data: bytes, count: int) -> list[bytes]:
    """``data`` split at PART_SEPARATOR into exactly ``count`` parts (the last holds the
    rest; missing parts are empty)."""
    pieces = data.split(PART_SEPARATOR, count - 1)
    return pieces + [b""] * (count - len(pieces))
