"""Exceptions that edge_reason raises for bad input: each says what and where."""

from __future__ import annotations


class EdgeReasonError(Exception):
    """Base class of every error edge_reason raises on purpose."""


class ModelFormatError(EdgeReasonError, ValueError):
    """A model folder, config field or weight file that cannot be used as given."""


class ResponseFormatError(EdgeReasonError, ValueError):
    """A response_format (structured output) that is unknown or does not compile."""
