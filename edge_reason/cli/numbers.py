"""Numbers for people: text output rounds floats to a few significant digits (the
`--json` output keeps them whole)."""

from __future__ import annotations

from typing import Any


def readable(value: Any) -> str:
    """A float as 4 significant digits (1.235e+45 for a huge perplexity, 0.05252 for a
    load time); anything else as str()."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
