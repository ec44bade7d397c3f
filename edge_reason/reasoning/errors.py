"""Exceptions of the reasoning layer: each message says what was wrong and where."""

from __future__ import annotations

from edge_reason.errors import EdgeReasonError


class ReasoningError(EdgeReasonError):
    """Base class of the reasoning layer's errors."""


class CalculationError(ReasoningError, ValueError):
    """Arithmetic text that cannot be parsed or computed (the message quotes it)."""

    def __init__(self, reason: str, source: str, position: int | None = None) -> None:
        where = f" at column {position + 1}" if position is not None else ""
        super().__init__(f"{reason}{where} in {source!r}")
        self.reason = reason
        self.source = source
        self.position = position


class DataFormatError(ReasoningError, ValueError):
    """A data, exemplar or prompt-format file with a bad record (the message has file:line)."""


class PromptFormatError(ReasoningError, ValueError):
    """A prompt format declaration with an unknown key or a bad value."""


class ContextLengthError(ReasoningError, ValueError):
    """A prompt longer than the model's context (the message gives both lengths)."""


class ToolError(ReasoningError):
    """A tool that is unknown, misdeclared, or failed while running."""


class ToolArgumentError(ToolError, ValueError):
    """Tool arguments that do not match the tool's declared schema."""


class RetrievalError(ReasoningError):
    """A document store that cannot be built, opened or searched."""
