"""Numbers as text when they may be too long for Python to turn into text whole.

Python refuses to turn an int of more than 4300 digits into text (ValueError), and the
evaluator admits results of up to 16384 bits (4933 digits): an answer or an error message
that shows such a number shows it rounded, in scientific notation.
"""

from __future__ import annotations

import sys
from fractions import Fraction

SCIENTIFIC_DIGITS = 12


def number_text(value: int | float | Fraction) -> str:
    """str(value) when Python can make it, else twelve significant digits."""
    if isinstance(value, float):
        return str(value)
    size = abs(Fraction(value))
    if too_long(digit_count(size.numerator)) or too_long(digit_count(size.denominator)):
        return scientific(Fraction(value))
    return str(value)


def scientific(value: Fraction) -> str:
    """``1.23456789012e+4500``: twelve significant digits, for values too long to show whole."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    shift = SCIENTIFIC_DIGITS - (digit_count(size.numerator) - digit_count(size.denominator))
    digits = str(round(size * Fraction(10) ** shift))
    exponent = len(digits) - 1 - shift
    mantissa = f"{digits[0]}.{digits[1:SCIENTIFIC_DIGITS]}".rstrip("0").rstrip(".")
    return f"{sign}{mantissa}e{exponent:+d}"


def too_long(digits: int) -> bool:
    """Whether Python refuses to turn an int of this many digits into text (4300 by default)."""
    limit = sys.get_int_max_str_digits()
    return limit != 0 and digits > limit


def digit_count(n: int) -> int:
    """Decimal digits of n >= 0, without turning it into text."""
    if n == 0:
        return 1
    count = int((n.bit_length() - 1) * 0.30102999566398120) + 1
    return count + 1 if n >= 10**count else count
