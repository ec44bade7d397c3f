"""The safe expression evaluator: exact numbers, units, and refusal of hostile input."""

from __future__ import annotations

from fractions import Fraction

import pytest
from edge_reason.heuristics import ExpressionError, calculate, format_value
from edge_reason.heuristics.evaluator import evaluate
from edge_reason.heuristics.parser import parse
from edge_reason.heuristics.units import Quantity


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("17*23 + 4", "395"),
        ("0.1 + 0.2", "0.3"),
        ("10 / 4", "2.5"),
        ("10 / 3", "3.333333"),
        ("2 ** 10", "1024"),
        ("2 ** -2", "0.25"),
        ("-2 ** 2", "-4"),
        ("2 ** 3 ** 2", "512"),
        ("17 // 5 + 17 % 5", "5"),
        ("(1 + 2) * (3 + 4)", "21"),
        ("sqrt(16 / 9) * 3", "4"),
        ("round(2.675, 2)", "2.68"),
        ("max(3, 7, 5) - min(4, 2)", "5"),
        ("abs(-3.5)", "3.5"),
        ("1.5e3", "1500"),
    ],
)
def test_arithmetic_is_exact(source: str, expected: str) -> None:
    assert format_value(calculate(source)) == expected


def test_decimal_sums_compare_exactly() -> None:
    assert calculate("0.1 + 0.2 == 0.3") is True
    assert calculate("17*23 + 4") == Fraction(395)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("5 km to m", "5000 m"),
        ("(1 km + 300 m) to m", "1300 m"),
        ("2 lb to g", "907.18474 g"),
        ("90 min to h", "1.5 h"),
        ("212 F to C", "100 C"),
        ("0 C to K", "273.15 K"),
        ('convert(72, "F", "C")', "22.222222 C"),
        ("1 bar to kPa", "100 kPa"),
        ("3 gal to L", "11.356235352 L"),
        ("45 percent to percent", "45 percent"),
        ("6 km / 2 km", "3"),
    ],
)
def test_units_convert_exactly(source: str, expected: str) -> None:
    assert format_value(calculate(source)) == expected


def test_quantities_compare_across_units() -> None:
    assert calculate("1 km > 999 m") is True
    assert calculate("35.6 F < 3 C") is True
    assert calculate("between(20 C, 64 F, 77 F)") is True


def test_names_and_time_windows() -> None:
    hour = parse("in_window(hour, 22, 6)")
    assert evaluate(hour, {"hour": Fraction(23)}) is True
    assert evaluate(hour, {"hour": Fraction(12)}) is False
    assert calculate('clock("06:30")') == Fraction(13, 2)
    reading = parse("temperature < 3 C")
    assert evaluate(reading, {"temperature": Quantity(Fraction(1), calculate("1 C").unit)})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "names starting with '_' are not allowed"),
        ("().__class__", "attribute access"),
        ("a.b", "attribute access"),
        ("x[0]", "indexing"),
        ("9**9**9", "exponent 387420489 is larger"),
        ("10 ** 5000", "exponent 5000 is larger"),
        ("(2 ** 4000) ** 4000", "would exceed 16384 bits"),
        ("(" * 40 + "1" + ")" * 40, "nested deeper than"),
        ("-" * 40 + "1", "nested deeper than"),
        ("+".join(["1"] * 300), "more than 256 parts"),
        ("1" * 1001, "longer than 1000"),
        ("exec('1')", "unknown function 'exec'"),
        ("lambda: 1", "':' is not allowed"),
        ("1e99999", "decimal exponent"),
        ("x = 1", "assignment"),
        ("1 / 0", "division by zero"),
        ("2 km + 3 kg", "cannot convert"),
        ("20 C + 5 F", "ambiguous for temperatures"),
        ("not 1", "expected true or false"),
        ("1 +", "expected a value"),
        ("(1 + 2", "expected ')'"),
        ("'abc", "unterminated string"),
        ("sqrt(-1)", "negative"),
        ("unknown_name + 1", "unknown name 'unknown_name'"),
        ("max()", "takes 1 to 16 argument(s), got 0"),
        ("5 to m", "needs a quantity"),
    ],
)
def test_hostile_or_broken_expressions_are_refused(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        calculate(source)
    assert message in str(caught.value)


def test_errors_carry_the_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        calculate("1 + 2 * a.b")
    assert caught.value.position == 9
    assert "at column 10" in str(caught.value)


def test_spelled_writes_small_counts_in_words() -> None:
    assert [calculate(f"spelled({n})") for n in (0, 2, 20)] == ["zero", "two", "twenty"]
    for bad in ("spelled(21)", "spelled(1.5)", "spelled(-1)", "spelled('two')"):
        with pytest.raises(ExpressionError, match="spelled"):
            calculate(bad)
