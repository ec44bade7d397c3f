"""Checking and converting the input values a caller gives a pack."""

from __future__ import annotations

import math
from fractions import Fraction

from .errors import ExpressionError, InputError
from .evaluator import calculate
from .functions import Value, parse_clock
from .schema import InputSpec
from .units import Quantity
from .values import format_value

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def coerce_input(spec: InputSpec, raw: object) -> Value:
    """``raw`` (a Python value or command-line text) as the value ``spec`` describes.

    Numbers are read exactly; text such as ``"68 F"`` is read as a quantity and converted to
    the input's unit. Raises InputError saying which input and why.
    """
    try:
        value = _READERS[spec.kind](spec, raw)
    except ExpressionError as error:
        raise InputError(f"input {spec.name!r}: {error}") from None
    _check_range(spec, value)
    return value


def _read_number(spec: InputSpec, raw: object) -> Value:
    if isinstance(raw, bool):
        raise InputError(f"input {spec.name!r} needs a number, got {raw!r}")
    if isinstance(raw, int | Fraction):
        number: Value = Fraction(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise InputError(f"input {spec.name!r} needs a finite number, got {raw!r}")
        # str() gives the shortest decimal that round-trips, so 0.1 reads as exactly 1/10.
        number = Fraction(str(raw))
    elif isinstance(raw, str):
        number = calculate(raw)
    else:
        raise InputError(f"input {spec.name!r} needs a number, got {type(raw).__name__}")
    if isinstance(number, Quantity):
        if spec.unit is None:
            raise InputError(f"input {spec.name!r} has no unit, got {format_value(number)}")
        return number.to(spec.unit)
    if isinstance(number, bool) or not isinstance(number, Fraction | float):
        raise InputError(f"input {spec.name!r} needs a number, got {raw!r}")
    return Quantity(number, spec.unit) if spec.unit is not None else number


def _read_time(spec: InputSpec, raw: object) -> Value:
    if isinstance(raw, str):
        return parse_clock(raw.strip())
    return _read_number(spec, raw)


def _read_bool(spec: InputSpec, raw: object) -> Value:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InputError(f"input {spec.name!r} needs true or false, got {raw!r}")


def _read_text(spec: InputSpec, raw: object) -> Value:
    if not isinstance(raw, str):
        raise InputError(f"input {spec.name!r} needs text, got {raw!r}")
    if spec.choices and raw not in spec.choices:
        raise InputError(
            f"input {spec.name!r} must be one of {', '.join(spec.choices)}, got {raw!r}"
        )
    return raw


_READERS = {"number": _read_number, "time": _read_time, "bool": _read_bool, "text": _read_text}
INPUT_KINDS = tuple(_READERS)


def _check_range(spec: InputSpec, value: Value) -> None:
    number = value.value if isinstance(value, Quantity) else value
    if isinstance(number, bool | str):
        return
    low = spec.low if spec.low is not None else number
    high = spec.high if spec.high is not None else number
    if not low <= number <= high:
        raise InputError(
            f"input {spec.name!r} = {format_value(value)} is outside its range "
            f"{format_value(spec.low) if spec.low is not None else '…'}.."
            f"{format_value(spec.high) if spec.high is not None else '…'}"
        )
