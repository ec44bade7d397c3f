"""A click callback for question arguments: an empty question is a usage error."""

from __future__ import annotations

import click


def not_blank(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an empty or whitespace-only value in one usage line: an empty question has no
    answer to look for, and the rule and model paths would report that unhelpfully."""
    if value is not None and not value.strip():
        raise click.BadParameter("the question is empty", param=param)
    return value
