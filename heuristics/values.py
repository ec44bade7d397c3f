"""Turning evaluated values into the short text an answer shows."""

from __future__ import annotations

from fractions import Fraction

from .functions import Value
from .number_text import digit_count, scientific, too_long
from .units import Quantity

# Digits shown after the point for a fraction without a finite decimal form (1/3, 200/9).
REPEATING_DECIMAL_PLACES = 6


def format_value(value: Value) -> str:
    """``395``, ``0.3``, ``5000 m``, ``22.222222 C``, ``true``: exact where the value is finite."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Quantity):
        return f"{format_value(value.value)} {value.unit.symbol}"
    if isinstance(value, float):
        return f"{value:.12g}"
    return _format_fraction(value)


def _format_fraction(value: Fraction) -> str:
    if value.denominator == 1:
        if too_long(digit_count(abs(value.numerator))):
            return scientific(value)
        return str(value.numerator)
    places = _terminating_places(value.denominator)
    if places is None:
        # Rounded exactly, so it terminates: through a float, 2**4000/3 would overflow.
        return _format_fraction(round(value, REPEATING_DECIMAL_PLACES))
    if too_long(places):
        return scientific(value)
    scaled = abs(value.numerator) * 10**places // value.denominator
    if too_long(digit_count(scaled)):
        return scientific(value)
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}".rstrip("0")


def _terminating_places(denominator: int) -> int | None:
    """How many decimal places ``1/denominator`` needs, or None if its decimals repeat."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None
