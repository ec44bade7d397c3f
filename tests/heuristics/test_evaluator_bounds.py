"""The evaluator's bounds: any expression gives a value or a named error, quickly."""

from __future__ import annotations

import time

import pytest
from edge_reason.heuristics import ExpressionError, calculate, format_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("round(1/3, 1000000000)", "round(): takes at most 4096 digits"),
        ("round(7, -1000000000)", "round(): takes at most 4096 digits"),
        ("0 ** -0.5", "division by zero at column 3"),
        ("0.0 ** -1", "division by zero"),
        ("2**4000 * 0.5 ** 0.5", "too large for floating-point arithmetic"),
        ("sqrt(10**4000+1)", "sqrt(): a number is too large for floating-point"),
    ],
)
def test_issue_21_expressions_fail_fast_with_a_named_error(source: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        calculate(source)
    assert message in str(caught.value)
    assert time.perf_counter() - start < 1.0


def test_huge_exact_numbers_format_without_floats() -> None:
    assert format_value(calculate("2**4000 / 3")).endswith(".333333")
    assert format_value(calculate("round(1/3, 4096)")).startswith("0.333333")
    # beyond the 4300 digits Python turns into text: rounded, in scientific notation
    assert format_value(calculate("4 / 4**3**7")) == "7.8860396637e-1317"
    assert format_value(calculate("(2**4000)**4")) == "3.01946933723e+4816"


NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0", "0.5", "1e300", "2**4000", "10**4000", "1/3", "-0.0", "7.25"]),
)
UNITS = st.sampled_from(["", " km", " m", " C", " F", " kg", " percent"])
FUNCTIONS = st.sampled_from(["round", "sqrt", "abs", "floor", "ceil", "min", "max", "spelled"])
OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "==", "and"])


def _expressions() -> st.SearchStrategy[str]:
    leaf = st.builds(lambda n, u: f"{n}{u}", NUMBERS, UNITS)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"({a} {op} {b})", inner, OPERATORS, inner),
            st.builds(lambda f, a: f"{f}({a})", FUNCTIONS, inner),
            st.builds(lambda a, b: f"round({a}, {b})", inner, inner),
            st.builds(lambda a: f"-{a}", inner),
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_any_expression_gives_a_value_or_a_named_error_within_a_bound(source: str) -> None:
    start = time.perf_counter()
    try:
        format_value(calculate(source))
    except ExpressionError:
        pass
    assert time.perf_counter() - start < 1.0, source
