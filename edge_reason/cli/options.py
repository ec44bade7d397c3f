"""Options several commands take, defined once so that they are spelt, parsed and
explained alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

Command = TypeVar("Command", bound=Callable[..., Any])

QUANTS = click.Choice(["f32", "int8", "int4"])
QUANT_HELP = "Weight precision (default: f32; for a GGUF file Q8, its Q8_0/Q4_0 kept as they are)."

# --budget-ms of ask and evaluate
budget_option = click.option(
    "--budget-ms", type=click.FloatRange(min=0, min_open=True), help="Time budget."
)


def engine_options(command: Command) -> Command:
    """--quant and --threads, as every command that loads a model takes them."""
    command = click.option(
        "--threads", type=click.IntRange(min=1), default=None, help="Default: physical cores."
    )(command)
    return click.option("--quant", type=QUANTS, default=None, help=QUANT_HELP)(command)


def json_flag(help: str = "Print one JSON document.") -> Callable[[Command], Command]:
    """--json, passed to the command as `as_json`."""
    return click.option("--json", "as_json", is_flag=True, help=help)
