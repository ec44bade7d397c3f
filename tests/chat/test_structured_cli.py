"""`edge-reason generate` and `chat` with --json-schema, --json-object, --regex and --grammar
(issue 25): each gives what the API gives for that response_format, and each bad input is a
one-line error naming the file (and line), never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_reason import Engine
from edge_reason.cli import main

SCHEMA = {
    "type": "object",
    "properties": {"room": {"enum": ["kitchen", "garden"]}},
    "required": ["room"],
    "additionalProperties": False,
    # no whitespace between the tokens: a random model would write it until the end
    "x-guidance": {"whitespace_flexible": False},
}
LARK = 'start: "Mary is in the " ROOM "."\nROOM: "kitchen" | "garden"\n'
GBNF = 'root ::= "Mary is in the " room "."\nroom ::= "kitchen" | "garden"\n'
PROMPT = "Where is Mary?"
TOKENS = ["--max-new-tokens", "40", "--threads", "1"]


@pytest.fixture(scope="module")
def model(chat_model) -> Path:
    return chat_model("smollm2")


@pytest.fixture(scope="module")
def engine(model: Path) -> Engine:
    return Engine.load(model, threads=1)


def generate(model: Path, *options: str, stdin: str = ""):
    return CliRunner().invoke(
        main, ["generate", str(model), PROMPT, *TOKENS, *options], input=stdin
    )


def api_text(engine: Engine, response_format: dict) -> str:
    return engine.generate(PROMPT, max_new_tokens=40, response_format=response_format).text


def one_line_error(result, *parts: str) -> None:
    """Exit code 1, one line "Error: ..." holding ``parts``, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


# ---- each option --------------------------------------------------------------------------


def test_json_schema_from_a_file_and_from_stdin(model: Path, engine: Engine, tmp_path) -> None:
    schema = tmp_path / "room.json"
    schema.write_text(json.dumps(SCHEMA))
    want = api_text(engine, {"type": "json_schema", "json_schema": {"schema": SCHEMA}})
    document = json.loads(want)  # the format ended it: a whole document
    assert document == {"room": document["room"]} and document["room"] in ("kitchen", "garden")
    from_file = generate(model, "--json-schema", str(schema))
    assert from_file.exit_code == 0, from_file.output
    assert from_file.stdout == want + "\n"
    from_stdin = generate(model, "--json-schema", "-", stdin=json.dumps(SCHEMA))
    assert from_stdin.exit_code == 0 and from_stdin.stdout == want + "\n"


def test_json_object(model: Path, engine: Engine) -> None:
    result = generate(model, "--json-object", "--json")
    assert result.exit_code == 0, result.output
    text = json.loads(result.stdout)["text"]  # --json (machine output) still works with it
    assert text == api_text(engine, {"type": "json_object"})
    assert text.startswith("{")


def test_regex(model: Path, engine: Engine) -> None:
    pattern = "(kitchen|garden)[0-9]{2}"
    result = generate(model, "--regex", pattern)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(pattern, result.stdout.rstrip("\n"))
    assert result.stdout == api_text(engine, {"type": "regex", "pattern": pattern}) + "\n"


@pytest.mark.parametrize(("suffix", "grammar"), [(".lark", LARK), (".gbnf", GBNF)])
def test_grammar_lark_or_gbnf_by_suffix(model: Path, tmp_path, suffix: str, grammar: str) -> None:
    path = tmp_path / f"room{suffix}"
    path.write_text(grammar)
    result = generate(model, "--grammar", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout in ("Mary is in the kitchen.\n", "Mary is in the garden.\n")


def test_chat_constrains_every_reply(model: Path, engine: Engine) -> None:
    pattern = "(yes|no)[.!]"
    result = CliRunner().invoke(
        main, ["chat", str(model), *TOKENS, "--regex", pattern], input="Is Mary here?\nAnd John?\n"
    )
    assert result.exit_code == 0, result.output
    replies = result.stdout.splitlines()
    assert len(replies) == 2 and all(re.fullmatch(pattern, reply) for reply in replies)
    first = [{"role": "user", "content": "Is Mary here?"}]
    fmt = {"type": "regex", "pattern": pattern}
    assert replies[0] == engine.chat(first, max_new_tokens=40, response_format=fmt).text


def test_a_reply_the_token_limit_cut_says_so(model: Path, tmp_path) -> None:
    """Cut before the format's end, the text is no JSON: a warning on stderr says so (none
    when the format ended it, nor without a format)."""
    schema = tmp_path / "room.json"
    schema.write_text(json.dumps(SCHEMA))
    cut = ["--max-new-tokens", "2", "--threads", "1"]
    args = ["generate", str(model), PROMPT, *cut, "--json-schema", str(schema)]
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.output
        assert "stopped at --max-new-tokens (2 tokens) before the format was complete" in (
            result.stderr
        )
    result = CliRunner().invoke(
        main, ["chat", str(model), *cut, "--json-schema", str(schema)], input="Where?\n"
    )
    assert "before the format was complete" in result.stderr
    whole = generate(model, "--json-schema", str(schema))
    plain = CliRunner().invoke(main, ["generate", str(model), PROMPT, *cut])
    assert "warning" not in whole.stderr and "warning" not in plain.stderr


# ---- bad input: one line each -------------------------------------------------------------


def test_a_missing_file_is_named(model: Path, tmp_path) -> None:
    for option in ("--json-schema", "--grammar"):
        missing = tmp_path / f"missing{option}"
        one_line_error(generate(model, option, str(missing)), str(missing), "No such file")


def test_a_schema_file_that_is_not_json_gives_its_line(model: Path, tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "object",\n  "properties": {,}}')
    one_line_error(generate(model, "--json-schema", str(path)), f"{path}:2:", "not valid JSON")
    path.write_text("[1, 2]")
    one_line_error(generate(model, "--json-schema", str(path)), str(path), "JSON object")


def test_a_schema_that_does_not_compile(model: Path, tmp_path) -> None:
    path = tmp_path / "range.json"
    path.write_text(json.dumps({"type": "integer", "minimum": 5, "maximum": 1}))
    result = generate(model, "--json-schema", str(path))
    one_line_error(result, str(path), "JSON schema does not compile", "minimum")
    result = generate(model, "--json-schema", "-", stdin='{"type": "strin"}')
    one_line_error(result, "stdin: the JSON schema does not compile", "strin")


def test_a_regex_that_does_not_compile(model: Path) -> None:
    one_line_error(generate(model, "--regex", "a(b"), "--regex 'a(b'", "unclosed group")


def test_a_grammar_that_does_not_compile_gives_its_line(model: Path, tmp_path) -> None:
    lark = tmp_path / "bad.lark"
    lark.write_text('start: "a" b\n\nb: (\n')
    one_line_error(generate(model, "--grammar", str(lark)), f"{lark}:3:", "does not compile")
    lark.write_text("start: nothing\n")
    one_line_error(generate(model, "--grammar", str(lark)), f"{lark}:1:", '"nothing"')
    gbnf = tmp_path / "bad.gbnf"
    gbnf.write_text('root ::= "a" |\n x ::= (\n')
    one_line_error(generate(model, "--grammar", str(gbnf)), f"{gbnf}:2:", "does not compile")


def test_two_formats_are_refused(model: Path, tmp_path) -> None:
    one_line_error(generate(model, "--json-object", "--regex", "a"), "--json-object and --regex")
    grammar = tmp_path / "g.lark"
    grammar.write_text(LARK)
    result = CliRunner().invoke(
        main, ["chat", str(model), "--grammar", str(grammar), "--regex", "a"], input="Hi\n"
    )
    one_line_error(result, "--regex and --grammar exclude each other")


def test_chat_refuses_a_schema_on_stdin_and_a_thinking_budget(model: Path) -> None:
    result = CliRunner().invoke(main, ["chat", str(model), "--json-schema", "-"], input="Hi\n")
    one_line_error(result, "--json-schema -", "give a file")
    result = CliRunner().invoke(
        main, ["chat", str(model), "--json-object", "--thinking-budget", "4"], input="Hi\n"
    )
    one_line_error(result, "--thinking-budget")


def test_a_vocabulary_that_cannot_write_the_format(tmp_path) -> None:
    """The shipped model's word-level vocabulary has no "{": a one-line error, no traceback."""
    from edge_reason.default_model import default_model_path

    folder = default_model_path()
    assert folder is not None, "the package ships its default model: the installation is broken"
    result = CliRunner().invoke(
        main, ["generate", str(folder), "Where is Mary?", "--json-object", "--threads", "1"]
    )
    one_line_error(result, "vocabulary cannot")
