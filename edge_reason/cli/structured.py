"""The options that constrain what `generate` and `chat` write (structured output, issue 25):
--json-schema FILE, --json-object, --regex PATTERN and --grammar FILE, at most one of them.

The format is read and compiled before the model loads, so a missing file, invalid JSON,
or a schema, regex or grammar that does not compile is a one-line error naming the file
(and its line and column where the parser reports them), never a traceback.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import Command

if TYPE_CHECKING:
    from ..engine import Generation
    from ..structured_output import ResponseFormat

NAMES = ("--json-schema", "--json-object", "--regex", "--grammar")
# what structured_output.py puts before the compiler's own message
_PREFIX = re.compile(r"^response_format (?:GBNF grammar: |\w+ does not compile: )?")
_AT = re.compile(r"^(?:at )?(?P<line>\d+)\((?P<column>\d+)\): ")  # Lark: "3(5): ..."
_AT_LINE = re.compile(r"\bat line (?P<line>\d+)\b")  # GBNF: "... at line 2, ..."
_REGEX_REASON = re.compile(r"^error: (?P<reason>.+)$", re.MULTILINE)


def response_format_options(*, stdin: bool) -> Callable[[Command], Command]:
    """The four options, passed to the command as one `response_format` (a compiled
    ResponseFormat, or None). ``stdin``: whether ``--json-schema -`` may read stdin (not
    for a command that reads its messages from there)."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(
            *args: Any,
            json_schema: str | None,
            json_object: bool,
            regex: str | None,
            grammar: str | None,
            **kwargs: Any,
        ) -> Any:
            kwargs["response_format"] = read_response_format(
                json_schema, json_object, regex, grammar, stdin=stdin
            )
            return command(*args, **kwargs)

        options = [
            click.option(
                "--json-schema",
                metavar="FILE",
                help="Write JSON valid against the JSON Schema in FILE"
                + (" (- reads it from stdin)." if stdin else "."),
            ),
            click.option("--json-object", is_flag=True, help="Write one JSON object."),
            click.option("--regex", metavar="PATTERN", help="Write a whole match of PATTERN."),
            click.option(
                "--grammar",
                metavar="FILE",
                help="Write a sentence of the Lark grammar in FILE (GBNF if it ends in .gbnf).",
            ),
        ]
        for option in reversed(options):
            run = option(run)
        return run  # type: ignore[return-value]

    return decorate


def read_response_format(
    json_schema: str | None,
    json_object: bool,
    regex: str | None,
    grammar: str | None,
    *,
    stdin: bool = True,
) -> ResponseFormat | None:
    """The response_format the options ask for, compiled; None when none is given."""
    from ..errors import ResponseFormatError
    from ..structured_output import ResponseFormat

    given = [
        name
        for name, value in zip(
            NAMES, (json_schema, json_object or None, regex, grammar), strict=True
        )
        if value is not None
    ]
    if len(given) > 1:
        raise click.ClickException(f"{' and '.join(given)} exclude each other: give one of them")
    if not given:
        return None
    where, what, line_of = given[0], "the format", False
    if json_schema is not None:
        where, what = ("stdin" if json_schema == "-" else json_schema), "the JSON schema"
        spec = {"type": "json_schema", "json_schema": {"schema": _schema(json_schema, stdin)}}
    elif json_object:
        spec = {"type": "json_object"}
    elif regex is not None:
        where, what = f"--regex {regex!r}", "the regex"
        spec = {"type": "regex", "pattern": regex}
    else:
        assert grammar is not None
        where, what, line_of = grammar, "the grammar", True
        syntax = "gbnf" if grammar.lower().endswith(".gbnf") else "lark"
        spec = {"type": "grammar", "grammar": _read(grammar), "syntax": syntax}
    try:
        return ResponseFormat.parse(spec)
    except ResponseFormatError as error:
        where, reason = _located(where, str(error), line_of)
        raise click.ClickException(f"{where}: {what} does not compile: {reason}") from None


def warn_if_unfinished(generation: Generation, response_format: ResponseFormat | None) -> None:
    """On stderr: the text stopped before the format was complete (the token limit), so
    it is no JSON, match or sentence of the grammar asked for."""
    if response_format is None or generation.finish_reason not in ("length", "time"):
        return
    if response_format.type.startswith("json") and _is_json(generation.text):
        return  # complete on the last token the limit allowed
    limit = "--max-new-tokens" if generation.finish_reason == "length" else "its time limit"
    click.echo(
        f"warning: the text stopped at {limit} ({generation.stats.generated_tokens} tokens) "
        "before the format was complete: it does not follow it",
        err=True,
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _schema(path: str, stdin: bool) -> dict[str, Any]:
    if path == "-" and not stdin:
        raise click.ClickException("--json-schema -: stdin holds the messages here; give a file")
    where = "stdin" if path == "-" else path
    text = sys.stdin.read() if path == "-" else _read(path)
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.ClickException(
            f"{where}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})"
        ) from None
    if not isinstance(schema, dict):
        raise click.ClickException(f"{where}: a JSON Schema is a JSON object")
    return schema


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{path}: not UTF-8 text ({error.reason})") from None


def _located(where: str, message: str, line_of: bool) -> tuple[str, str]:
    """``where`` with the line (and column) the compiler reports, and its reason on one
    line."""
    message = _PREFIX.sub("", message)
    found = _AT.match(message)
    if found and line_of:
        where = f"{where}:{found['line']}:{found['column']}"
    elif line_of and (at_line := _AT_LINE.search(message)):
        where = f"{where}:{at_line['line']}"
    if found:
        message = message[found.end() :]
    reason = _REGEX_REASON.search(message)  # a regex's own error, below the grammar it made
    if reason and not line_of:
        message = reason["reason"]
    return where, message.strip().splitlines()[0]
