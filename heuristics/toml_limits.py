"""Bounds on a pack's TOML, so that a hostile file fails to load with its file and line.

Some values break tomllib or the loader rather than a rule: arrays nested hundreds deep exhaust
tomllib's recursion, an integer of thousands of digits trips Python's limit on converting
text to int, and ``inf`` or ``nan`` have no exact value. The text is checked before tomllib
reads it, and the values it produced after.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import PackError
from .linemap import LineMap, Path, dotted

MAX_NESTING = 16
# More digits in a row than any 64-bit integer or meaningful float has (both under 20).
MAX_DIGITS = 100
# TOML integers are 64-bit signed; outside that, the spec says a parser must refuse them.
INTEGER_RANGE = range(-(2**63), 2**63)


def check_text(lines: LineMap, file: str) -> None:
    """Refuse nesting and digit runs that tomllib cannot parse safely."""
    depth, line = lines.deepest_nesting
    if depth > MAX_NESTING:
        raise PackError(
            f"values nest {depth} levels deep (arrays and inline tables: at most {MAX_NESTING})",
            file,
            line,
        )
    digits, line = lines.longest_number
    if digits > MAX_DIGITS:
        raise PackError(f"a number of {digits} digits (at most {MAX_DIGITS})", file, line)


def check_values(data: dict[str, Any], lines: LineMap, file: str) -> None:
    """Refuse non-finite floats and integers beyond 64 bits anywhere in ``data``."""
    pending: list[tuple[Path, object]] = [((), data)]
    while pending:  # iterative: the depth is bounded already, but keep the stack flat
        path, value = pending.pop()
        if isinstance(value, dict):
            pending.extend(((*path, key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend(((*path, index), item) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise PackError(
                f"{dotted(path)} is {value}: numbers in a pack must be finite",
                file,
                lines.line_of(path),
            )
        elif isinstance(value, int) and value not in INTEGER_RANGE:
            raise PackError(
                f"{dotted(path)}: integer outside TOML's 64-bit range", file, lines.line_of(path)
            )
