"""The functions an expression may call, and nothing else.

Each entry maps a name to (implementation, fewest arguments, most arguments). Implementations
receive already-evaluated arguments and raise ExpressionError for values they cannot accept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from .errors import ExpressionError
from .number_text import number_text
from .units import Number, Quantity, convert, require_unit

Value = Fraction | float | bool | str | Quantity

# 10**4096 has 13607 bits: within the evaluator's bound on results (16384 bits).
MAX_ROUND_DIGITS = 4096


def _number(value: Value, function: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, Fraction | float):
        raise ExpressionError(f"{function}() needs a plain number, got {describe(value)}")
    return value


def _magnitude(value: Value, function: str) -> Number:
    """The number inside a quantity, or the number itself (for functions agnostic of units)."""
    return value.value if isinstance(value, Quantity) else _number(value, function)


def _rebuild(template: Value, number: Number) -> Value:
    return Quantity(number, template.unit) if isinstance(template, Quantity) else number


def _comparable(values: tuple[Value, ...], function: str) -> list[Value]:
    """The values as plain numbers, or all as quantities in the first one's unit."""
    if not isinstance(values[0], Quantity):
        return [_number(value, function) for value in values]
    converted: list[Value] = []
    for value in values:
        if not isinstance(value, Quantity):
            raise ExpressionError(f"{function}() mixes a quantity with {describe(value)}")
        converted.append(value.to(values[0].unit))
    return converted


def _min(*values: Value) -> Value:
    return min(_comparable(values, "min"), key=_magnitude_key)


def _max(*values: Value) -> Value:
    return max(_comparable(values, "max"), key=_magnitude_key)


def _magnitude_key(value: Value) -> Number:
    return value.value if isinstance(value, Quantity) else value


def _abs(value: Value) -> Value:
    return _rebuild(value, abs(_magnitude(value, "abs")))


def _round(value: Value, digits: Value = Fraction(0)) -> Value:
    places = _number(digits, "round")
    if places != int(places):
        raise ExpressionError("round() needs a whole number of digits")
    if abs(places) > MAX_ROUND_DIGITS:
        # rounding an exact number computes 10**digits: a billion digits would take minutes
        raise ExpressionError(f"takes at most {MAX_ROUND_DIGITS} digits, got {number_text(places)}")
    number = _magnitude(value, "round")
    rounded = round(number, int(places))
    # round(Fraction, 0) keeps a Fraction; an integer result reads better as one.
    return _rebuild(value, Fraction(rounded) if isinstance(number, Fraction) else rounded)


def _sqrt(value: Value) -> Number:
    number = _number(value, "sqrt")
    if number < 0:
        raise ExpressionError(f"sqrt() of a negative number ({number_text(number)})")
    if isinstance(number, Fraction):
        top, bottom = math.isqrt(number.numerator), math.isqrt(number.denominator)
        if top * top == number.numerator and bottom * bottom == number.denominator:
            return Fraction(top, bottom)
    return math.sqrt(number)


def _floor(value: Value) -> Value:
    return _rebuild(value, Fraction(math.floor(_magnitude(value, "floor"))))


def _ceil(value: Value) -> Value:
    return _rebuild(value, Fraction(math.ceil(_magnitude(value, "ceil"))))


def _between(value: Value, low: Value, high: Value) -> bool:
    number, lowest, highest = _comparable((value, low, high), "between")
    return _magnitude_key(lowest) <= _magnitude_key(number) <= _magnitude_key(highest)


def _in_window(hour: Value, start: Value, end: Value) -> bool:
    """True when ``hour`` is in [start, end); a window ending before it starts wraps midnight."""
    now, opens, closes = (_number(v, "in_window") for v in (hour, start, end))
    if opens <= closes:
        return opens <= now < closes
    return now >= opens or now < closes


def parse_clock(text: str) -> Fraction:
    """``"HH:MM"`` as hours since midnight, exactly (``"06:30"`` -> 13/2)."""
    hours, colon, minutes = text.partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ExpressionError(f"expected a time of day as HH:MM, got {text!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ExpressionError(f"time of day out of range: {text!r}")
    return Fraction(int(hours)) + Fraction(int(minutes), 60)


def _clock(text: Value) -> Fraction:
    if not isinstance(text, str):
        raise ExpressionError(f"clock() needs a string such as '06:30', got {describe(text)}")
    return parse_clock(text)


def _convert(value: Value, source: Value, target: Value) -> Quantity:
    if not (isinstance(source, str) and isinstance(target, str)):
        raise ExpressionError("convert() needs unit names as strings, e.g. convert(72, 'F', 'C')")
    return Quantity(
        convert(_number(value, "convert"), require_unit(source), require_unit(target)),
        require_unit(target),
    )


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()


def _spelled(value: Value) -> str:
    """A whole number from 0 to 20 in words, as stories answer counts ("two")."""
    number = _number(value, "spelled")
    if number != int(number) or not 0 <= number < len(_NUMBER_WORDS):
        raise ExpressionError(
            f"spelled() takes a whole number from 0 to 20, got {number_text(number)}"
        )
    return _NUMBER_WORDS[int(number)]


def _magnitude_of(value: Value) -> Number:
    """The bare number of a quantity (``value(5 km)`` is 5), to compare against plain numbers."""
    return _magnitude(value, "value")


FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int]] = {
    "min": (_min, 1, 16),
    "max": (_max, 1, 16),
    "abs": (_abs, 1, 1),
    "round": (_round, 1, 2),
    "sqrt": (_sqrt, 1, 1),
    "floor": (_floor, 1, 1),
    "ceil": (_ceil, 1, 1),
    "between": (_between, 3, 3),
    "in_window": (_in_window, 3, 3),
    "clock": (_clock, 1, 1),
    "convert": (_convert, 3, 3),
    "value": (_magnitude_of, 1, 1),
    "spelled": (_spelled, 1, 1),
}

# Functions the evaluator implements itself because they need the evaluator (calc parses text).
SPECIAL_FUNCTIONS: dict[str, tuple[int, int]] = {"calc": (1, 1)}


def describe(value: Value) -> str:
    """A short phrase naming a value's kind, for error messages."""
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, Quantity):
        return f"a quantity in {value.unit.symbol}"
    return f"a number ({number_text(value)})"
