"""Exceptions raised by rule packs: each says what went wrong and where."""

from __future__ import annotations

# The project's error base, and nothing of the engine: edge_reason/errors.py imports
# nothing, so rule packs still load without the native module.
from ..errors import EdgeReasonError


class RuleError(EdgeReasonError, ValueError):
    """Base class of every error the heuristics package raises on purpose."""


class ExpressionError(RuleError):
    """An expression that cannot be parsed or evaluated safely.

    ``position`` is the 0-based character offset in ``source`` where the problem was found
    (``None`` when the error concerns the value rather than a place in the text).
    """

    def __init__(self, message: str, source: str = "", position: int | None = None) -> None:
        self.reason = message
        self.source = source
        self.position = position
        where = f" at column {position + 1}" if position is not None else ""
        quoted = f" in {_excerpt(source, position)!r}" if source else ""
        super().__init__(f"{message}{where}{quoted}")


def _excerpt(source: str, position: int | None, width: int = 80) -> str:
    """At most ``width`` characters of ``source``, centred on ``position`` when it is long."""
    if len(source) <= width:
        return source
    start = max(0, min((position or 0) - width // 2, len(source) - width))
    return ("…" if start else "") + source[start : start + width] + "…"


class PackError(RuleError):
    """A malformed or unsafe rule pack; ``file`` and ``line`` (1-based) say where."""

    def __init__(self, message: str, file: str, line: int | None = None) -> None:
        self.reason = message
        self.file = file
        self.line = line
        location = f"{file}:{line}" if line is not None else file
        super().__init__(f"{location}: {message}")


class InputError(RuleError):
    """An input value or fact given to a pack that the pack does not declare or accept."""


class ChainingError(RuleError):
    """Forward chaining that does not settle: rules keep re-deriving facts, or too many rounds."""


class BudgetError(RuleError):
    """Work on a question or evaluation that ran past its time budget (and was stopped)."""
