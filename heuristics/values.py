"""Turning evaluated values into the short text an answer shows."""

from __future__ import annotations

import sys
from fractions import Fraction

from .functions import Value
from .units import Quantity

# Digits shown after the point for a fraction without a finite decimal form (1/3, 200/9).
REPEATING_DECIMAL_PLACES = 6
SCIENTIFIC_DIGITS = 12  # shown for a value too long to show whole


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
        if _too_long(_digit_count(abs(value.numerator))):
            return _scientific(value)
        return str(value.numerator)
    places = _terminating_places(value.denominator)
    if places is None:
        # Rounded exactly, so it terminates: through a float, 2**4000/3 would overflow.
        return _format_fraction(round(value, REPEATING_DECIMAL_PLACES))
    if _too_long(places):
        return _scientific(value)
    scaled = abs(value.numerator) * 10**places // value.denominator
    if _too_long(_digit_count(scaled)):
        return _scientific(value)
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}".rstrip("0")


def _scientific(value: Fraction) -> str:
    """``1.23456789012e+4500``: twelve significant digits, for values too long to show whole."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    shift = SCIENTIFIC_DIGITS - (_digit_count(size.numerator) - _digit_count(size.denominator))
    digits = str(round(size * Fraction(10) ** shift))
    exponent = len(digits) - 1 - shift
    mantissa = f"{digits[0]}.{digits[1:SCIENTIFIC_DIGITS]}".rstrip("0").rstrip(".")
    return f"{sign}{mantissa}e{exponent:+d}"


def _too_long(digits: int) -> bool:
    """Whether Python refuses to turn an int of this many digits into text (4300 by default)."""
    limit = sys.get_int_max_str_digits()
    return limit != 0 and digits > limit


def _digit_count(n: int) -> int:
    """Decimal digits of n >= 0, without turning it into text."""
    if n == 0:
        return 1
    count = int((n.bit_length() - 1) * 0.30102999566398120) + 1
    return count + 1 if n >= 10**count else count


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
