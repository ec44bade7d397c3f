"""Malicious or broken packs are refused with the file and the line of the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_reason.heuristics import ChainingError, PackError, RulePack

HEADER = '[pack]\nname = "broken"\n\n[inputs]\nreading = { range = [0, 100] }\n\n'
RELATION_AT = '[relations]\nat = { args = ["a", "b"] }\n[[rule]]\nid = "r"\n'


def refused(body: str) -> PackError:
    """The PackError loading HEADER + body raises (lines of body start at 7)."""
    with pytest.raises(PackError) as caught:
        RulePack.from_string(HEADER + body, name="broken.toml")
    return caught.value


def rule(when: str) -> str:
    return (
        '[outputs]\nalarm = "on or off"\n\n'
        f'[[rule]]\nid = "r"\nwhen = "{when}"\nthen = {{ alarm = "on" }}\n'
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("__import__('os')", "names starting with '_' are not allowed"),
        ("reading.__class__", "attribute access"),
        ("().__class__", "attribute access"),
        ("(" * 40 + "reading" + ")" * 40 + " > 1", "nested deeper than"),
        ("undeclared > 3", "unknown name 'undeclared'"),
        ("eval('1')", "unknown function 'eval'"),
    ],
)
def test_bad_when_expressions_point_at_their_line(when: str, message: str) -> None:
    error = refused(rule(when))
    assert error.file == "broken.toml"
    assert error.line == 12  # the `when = ...` line of the rule
    assert message in str(error)
    assert str(error).startswith("broken.toml:12: ")


def test_huge_exponent_in_a_constant_is_refused_before_computing() -> None:
    error = refused('[constants]\nlimit = "9**9**9"\n')
    assert error.line == 8
    assert "exponent 387420489 is larger" in str(error)


def test_toml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text(HEADER + "[[rule]]\nid = 'r'\nwhen = reading >\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        RulePack.load(path)
    assert (caught.value.file, caught.value.line) == (str(path), 9)
    assert "TOML syntax error" in str(caught.value)


def test_duplicate_rule_id_points_at_the_second_one() -> None:
    body = (
        rule("reading > 1")
        + '\n[[rule]]\nid = "r"\nwhen = "reading > 2"\nthen = { alarm = "off" }\n'
    )
    error = refused(body)
    assert error.line == 16
    assert "duplicate id 'r'" in str(error)


def test_unknown_key_is_a_typo_not_silently_ignored() -> None:
    error = refused(rule("reading > 1") + "priorty = 3\n")
    assert error.line == 14
    assert "unknown key 'priorty'" in str(error)


def test_unknown_example_input_is_refused() -> None:
    error = refused(
        rule("reading > 1") + '\n[[example]]\ninputs = { readng = 3 }\nexpect = { alarm = "on" }\n'
    )
    assert error.line == 16
    assert "unknown key 'readng'" in str(error)


def test_circular_derived_values_are_refused() -> None:
    error = refused('[derived]\nfirst = "second + 1"\nsecond = "first * 2"\n')
    assert error.line == 8
    assert "first -> second -> first" in str(error)


def test_circular_rules_through_facts_are_refused() -> None:
    body = (
        '[facts]\nwet = "w"\ndry = "d"\n\n'
        '[[rule]]\nid = "make_wet"\nwhen = "not dry"\nassert = ["wet"]\n\n'
        '[[rule]]\nid = "make_dry"\nwhen = "not wet"\nassert = ["dry"]\n'
    )
    error = refused(body)
    assert error.line == 13
    assert "circular rules" in str(error) and "make_wet" in str(error) and "make_dry" in str(error)


def test_rules_that_keep_replacing_each_others_facts_stop_with_an_error() -> None:
    body = (
        '[relations]\nlamp = { args = ["name", "state"], functional = true }\n\n'
        '[[rule]]\nid = "switch_off"\nmatch = ["lamp ?l on"]\nassert = ["lamp ?l off"]\n\n'
        '[[rule]]\nid = "switch_on"\nmatch = ["lamp ?l off"]\nassert = ["lamp ?l on"]\n\n'
        "[[statement]]\nid = \"says\"\npattern = '(?P<name>\\w+) is on\\.'\n"
        'assert = ["lamp {name} on"]\n\n'
        "[[question]]\nid = \"q\"\npattern = 'is (?P<name>\\w+) on\\?'\n"
        'ask = "lamp {name} on"\nanswer = "yes"\n'
    )
    pack = RulePack.from_string(HEADER + body, name="flip.toml")
    with pytest.raises(ChainingError) as caught:
        pack.answer_question("Is hall on?", "Hall is on.")
    message = str(caught.value)
    assert "does not settle" in message
    assert "'switch_off' (flip.toml:10)" in message and "'switch_on' (flip.toml:15)" in message


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            RELATION_AT + 'match = ["at ?x"]\nassert = ["at ?x ?x"]\n',
            11,
            "takes 2 argument(s), not 1",
        ),
        (
            RELATION_AT + 'match = ["at ?x ?y"]\nassert = ["at ?x ?z"]\n',
            12,
            "?z",
        ),
        ('[[statement]]\nid = "s"\npattern = "(unclosed"\n', 9, "bad regular expression"),
        (
            '[relations]\nat = { args = ["a", "b"] }\n[[statement]]\nid = "s"\n'
            "pattern = '(?P<who>\\w+) left\\.'\n"
            'assert = ["at {who} ?where"]\n',
            12,
            "statement asserts take {slots}, not ?variables",
        ),
        ('[inputs.extra]\nunit = "furlongs"\n', 8, "unknown unit 'furlongs'"),
        ('[[question]]\nid = "q"\npattern = "x"\nanswer = "{1 +}"\n', 10, "expected a value"),
    ],
)
def test_other_structural_errors_are_located(body: str, line: int, message: str) -> None:
    error = refused(body)
    assert error.line == line
    assert message in str(error)


def test_missing_file_is_a_pack_error(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="cannot read rule pack"):
        RulePack.load(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("relations", "message"),
    [
        (
            'at = { args = ["who", "where"], previous = "came_from" }\n'
            'came_from = { args = ["who", "where", "before"] }\n',
            "only a functional relation has a previous value: 'at'",
        ),
        (
            'at = { args = ["who", "where"], functional = true, previous = "came_from" }\n'
            'came_from = { args = ["who", "before"] }\n',
            "'came_from' must be a relation with 3 arguments (those of 'at', then the value "
            "replaced)",
        ),
        (
            'at = { args = ["who", "where"], functional = true, previous = "gone" }\n',
            "'gone' must be a relation with 3 arguments",
        ),
    ],
)
def test_a_previous_value_needs_a_functional_relation_and_a_wider_one(
    relations: str, message: str
) -> None:
    error = refused("[relations]\n" + relations)
    assert message in str(error) and error.line == 8


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("[constants]\nlimit = inf\n", 8, "constants.limit is inf: numbers in a pack must be"),
        ("[constants]\nlimit = nan\n", 8, "constants.limit is nan"),
        ("[inputs.level]\nrange = [0, -inf]\n", 8, "inputs.level.range.1 is -inf"),
        ("[constants]\nlimit = " + "9" * 5000 + "\n", 8, "a number of 5000 digits"),
        ("[constants]\nlimit = " + "9" * 30 + "\n", 8, "integer outside TOML's 64-bit range"),
        ("[constants]\nlimit = " + "[" * 2000 + "]" * 2000 + "\n", 8, "nest 2000 levels deep"),
        ("[constants]\nlimit = " + "{a=" * 20 + "1" + "}" * 20 + "\n", 8, "nest 20 levels deep"),
    ],
)
def test_toml_values_beyond_bounds_are_refused_with_their_line(
    body: str, line: int, message: str
) -> None:
    error = refused(body)
    assert (error.line, error.file) == (line, "broken.toml")
    assert message in str(error)


def test_digits_inside_strings_are_not_numbers() -> None:
    text = HEADER.replace("[inputs]", '[constants]\nbig = "' + "9" * 300 + ' + 1"\n\n[inputs]')
    assert RulePack.from_string(text, name="ok.toml").spec.constants["big"] == 10**300


def test_rule_errors_are_edge_reason_errors_and_value_errors() -> None:
    # one `except EdgeReasonError` catches a broken pack; older `except ValueError` still does
    from edge_reason.errors import EdgeReasonError

    error = refused(rule("reading >"))
    assert isinstance(error, EdgeReasonError) and isinstance(error, ValueError)
