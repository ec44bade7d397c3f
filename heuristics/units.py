"""A small table of physical units and exact conversion between them.

Every unit maps a value to its dimension's base unit as ``base = value * factor + offset``;
only temperatures have an offset. Factors are exact fractions, so ``5 km to m`` is exactly 5000.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import ExpressionError

Number = Fraction | float


@dataclass(frozen=True)
class Unit:
    """A unit of measure: ``symbol`` is its canonical spelling, ``dimension`` what it measures."""

    symbol: str
    dimension: str
    factor: Fraction
    offset: Fraction = Fraction(0)

    @property
    def has_offset(self) -> bool:
        """True for scales such as Celsius whose zero is not the dimension's zero."""
        return self.offset != 0


@dataclass(frozen=True)
class Quantity:
    """A number with a unit, e.g. ``Quantity(Fraction(5), KM)``."""

    value: Number
    unit: Unit

    def to(self, unit: Unit) -> Quantity:
        """The same amount expressed in ``unit`` (same dimension only)."""
        return Quantity(convert(self.value, self.unit, unit), unit)


_POUND = Fraction("0.45359237")
_INCH = Fraction("0.0254")
_STANDARD_GRAVITY = Fraction("9.80665")

# (symbol, dimension, factor to base, offset, aliases). Bases: metre, kilogram, second,
# kelvin, litre, pascal, and the plain ratio 1 for percent.
_TABLE: tuple[tuple[str, str, Fraction, Fraction, tuple[str, ...]], ...] = (
    ("m", "length", Fraction(1), Fraction(0), ("meter", "meters", "metre", "metres")),
    ("km", "length", Fraction(1000), Fraction(0), ("kilometer", "kilometers", "kilometre")),
    ("cm", "length", Fraction(1, 100), Fraction(0), ("centimeter", "centimeters")),
    ("mm", "length", Fraction(1, 1000), Fraction(0), ("millimeter", "millimeters")),
    ("mi", "length", Fraction("1609.344"), Fraction(0), ("mile", "miles")),
    ("yd", "length", Fraction("0.9144"), Fraction(0), ("yard", "yards")),
    ("ft", "length", Fraction("0.3048"), Fraction(0), ("foot", "feet")),
    ("inch", "length", _INCH, Fraction(0), ("inches",)),
    ("kg", "mass", Fraction(1), Fraction(0), ("kilogram", "kilograms")),
    ("g", "mass", Fraction(1, 1000), Fraction(0), ("gram", "grams")),
    ("mg", "mass", Fraction(1, 10**6), Fraction(0), ("milligram", "milligrams")),
    ("t", "mass", Fraction(1000), Fraction(0), ("tonne", "tonnes")),
    ("lb", "mass", _POUND, Fraction(0), ("lbs", "pound", "pounds")),
    ("oz", "mass", _POUND / 16, Fraction(0), ("ounce", "ounces")),
    ("s", "time", Fraction(1), Fraction(0), ("sec", "second", "seconds")),
    ("ms", "time", Fraction(1, 1000), Fraction(0), ("millisecond", "milliseconds")),
    ("min", "time", Fraction(60), Fraction(0), ("minute", "minutes")),
    ("h", "time", Fraction(3600), Fraction(0), ("hr", "hour", "hours")),
    ("day", "time", Fraction(86400), Fraction(0), ("days",)),
    ("week", "time", Fraction(604800), Fraction(0), ("weeks",)),
    ("K", "temperature", Fraction(1), Fraction(0), ("kelvin",)),
    ("C", "temperature", Fraction(1), Fraction("273.15"), ("degC", "celsius")),
    ("F", "temperature", Fraction(5, 9), Fraction("459.67") * Fraction(5, 9), ("degF",)),
    ("L", "volume", Fraction(1), Fraction(0), ("l", "liter", "liters", "litre", "litres")),
    ("mL", "volume", Fraction(1, 1000), Fraction(0), ("ml", "milliliter", "milliliters")),
    ("m3", "volume", Fraction(1000), Fraction(0), ("cubic_meter", "cubic_meters")),
    ("gal", "volume", Fraction("3.785411784"), Fraction(0), ("gallon", "gallons")),
    ("Pa", "pressure", Fraction(1), Fraction(0), ("pascal", "pascals")),
    ("hPa", "pressure", Fraction(100), Fraction(0), ()),
    ("kPa", "pressure", Fraction(1000), Fraction(0), ()),
    ("mbar", "pressure", Fraction(100), Fraction(0), ()),
    ("bar", "pressure", Fraction(100000), Fraction(0), ()),
    ("atm", "pressure", Fraction(101325), Fraction(0), ()),
    ("psi", "pressure", _POUND * _STANDARD_GRAVITY / _INCH**2, Fraction(0), ()),
    ("percent", "ratio", Fraction(1, 100), Fraction(0), ("pct",)),
)


def _build_index() -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for symbol, dimension, factor, offset, aliases in _TABLE:
        unit = Unit(symbol, dimension, factor, offset)
        for name in (symbol, *aliases):
            index[name] = unit
    return index


UNITS: dict[str, Unit] = _build_index()


def lookup_unit(name: str) -> Unit | None:
    """The unit spelled ``name`` (case-sensitive: ``mL`` and ``ML`` differ), or None."""
    return UNITS.get(name)


def require_unit(name: str) -> Unit:
    """The unit spelled ``name``; raises ExpressionError naming the unknown unit."""
    unit = lookup_unit(name)
    if unit is None:
        raise ExpressionError(f"unknown unit {name!r}")
    return unit


def convert(value: Number, source: Unit, target: Unit) -> Number:
    """``value`` in unit ``source`` expressed in unit ``target``; exact for exact inputs."""
    if source.dimension != target.dimension:
        raise ExpressionError(
            f"cannot convert {source.symbol} ({source.dimension}) "
            f"to {target.symbol} ({target.dimension})"
        )
    if source == target:
        return value
    if isinstance(value, float):
        base = value * float(source.factor) + float(source.offset)
        return (base - float(target.offset)) / float(target.factor)
    base = value * source.factor + source.offset
    return (base - target.offset) / target.factor
