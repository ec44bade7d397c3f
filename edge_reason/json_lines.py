"""JSON Lines (one JSON object a line, blank lines skipped), parsed with file:line in
every error: the reasoning layer's data files and the distillation data read it here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import EdgeReasonError


class JsonLinesError(EdgeReasonError, ValueError):
    """A JSON Lines line that is not a JSON object (the message has file:line)."""


def json_objects(lines: Iterable[str], source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("source:line", object) for every non-blank line of `lines`, numbered from 1."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise JsonLinesError(f"{where}: invalid JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise JsonLinesError(f"{where}: expected a JSON object, got {type(value).__name__}")
        yield where, value
