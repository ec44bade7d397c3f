import re
from fractions import Fraction

import pytest

from edge_reason.reasoning.arithmetic import (
    evaluate,
    format_number,
    parse_number,
    written_agrees,
)
from edge_reason.reasoning.errors import CalculationError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("48/2", Fraction(24)),
        ("0.1 + 0.2", Fraction(3, 10)),
        ("(1/3)*90", Fraction(30)),
        ("2 + 3 * 4", Fraction(14)),
        ("(2 + 3) * 4", Fraction(20)),
        ("100-50-30-15", Fraction(5)),
        ("-3 + +5", Fraction(2)),
        ("3*+6", Fraction(18)),
        ("560//10", Fraction(56)),
        ("2**10", Fraction(1024)),
        ("-2**2", Fraction(-4)),
        ("2**-1", Fraction(1, 2)),
        (".5*120", Fraction(60)),
        ("7/3", Fraction(7, 3)),
    ],
)
def test_evaluates_exactly(text: str, value: Fraction) -> None:
    assert evaluate(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty expression"),
        ("4/0", "division by zero"),
        ("2 +", "ends too early"),
        ("(2 + 3", "missing ')'"),
        ("2 ^ 3", "unexpected '^'"),
        ("__import__('os')", "unexpected '_'"),
        ("9**9**9", "exponents must be whole numbers up to"),
        ("2**0.5", "exponents must be whole numbers"),
        ("*".join(["10**256"] * 10), "larger than"),
        ("(" * 40 + "1" + ")" * 40, "nested deeper"),
    ],
)
def test_rejects_bad_input_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(CalculationError, match=re.escape(message)):
        evaluate(text)


def test_error_names_the_column() -> None:
    with pytest.raises(CalculationError, match="column 5"):
        evaluate("1 + x")


def test_parse_number_reads_written_numbers() -> None:
    assert parse_number("1,250") == 1250
    assert parse_number("$12") == 12
    assert parse_number("-.5") == Fraction(-1, 2)
    with pytest.raises(CalculationError):
        parse_number("12 apples")


def test_written_agrees_accepts_rounding_only_for_non_terminating_values() -> None:
    assert written_agrees(Fraction(24), "24.00") == "exact"
    assert written_agrees(Fraction(1, 3), "0.33") == "rounded"
    assert written_agrees(Fraction(1, 3), "0.3") is None  # one decimal place is too coarse
    assert written_agrees(Fraction(1, 8), "0.13") is None  # 0.125 terminates: write it exactly
    assert written_agrees(Fraction(2), "two") is None


def test_format_number() -> None:
    assert format_number(Fraction(24)) == "24"
    assert format_number(Fraction(1, 5)) == "0.2"
    assert format_number(Fraction(-5, 4)) == "-1.25"
