"""Evaluates a parsed expression over named values, with whitelisted operations only.

Numbers stay exact ``Fraction``s unless a float enters (an irrational ``sqrt``, a fractional
power); quantities carry units. Results are bounded in size so that ``9**9**9`` or a chain of
huge products is refused before Python spends memory on it, and an exact number too large to
become a float where one enters (``2**4000 * 0.5``) is refused by name, not by OverflowError.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from fractions import Fraction

from .errors import ExpressionError
from .functions import FUNCTIONS, Value, describe
from .number_text import number_text
from .parser import Expression, parse
from .syntax import Binary, Call, Compare, Convert, Literal, Name, Node, Unary, WithUnit
from .units import Number, Quantity

MAX_RESULT_BITS = 16384
MAX_EXPONENT = 4096
# Where a float meets an exact number, the exact one becomes a float, which tops out near 1.8e308.
_TOO_LARGE_FOR_FLOAT = "a number is too large for floating-point arithmetic (beyond about 1.8e308)"

_ARITHMETIC: dict[str, Callable[[Number, Number], Number]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}
_ORDER: dict[str, Callable[[object, object], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def evaluate(expression: Expression, names: Mapping[str, Value] | None = None) -> Value:
    """The value of ``expression`` with ``names`` bound; raises ExpressionError."""
    return _Evaluation(expression.source, names or {}).value(expression.root)


def calculate(source: str) -> Value:
    """Parse and evaluate a closed expression (no names), e.g. ``"17*23 + 4"`` -> 395."""
    return evaluate(parse(source))


class _Evaluation:
    def __init__(self, source: str, names: Mapping[str, Value]) -> None:
        self.source = source
        self.names = names

    def _fail(self, message: str, node: Node) -> ExpressionError:
        return ExpressionError(message, self.source, node.position)

    def value(self, node: Node) -> Value:
        """The value of ``node``; errors raised without a position get the node's."""
        try:
            return self._value(node)
        except ExpressionError as error:
            if error.position is None:
                raise self._fail(error.reason, node) from None
            raise

    def _value(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            if node.name not in self.names:
                raise self._fail(f"unknown name {node.name!r}", node)
            return self.names[node.name]
        if isinstance(node, WithUnit):
            return Quantity(self._plain_number(self.value(node.operand), node), node.unit)
        if isinstance(node, Convert):
            quantity = self.value(node.operand)
            if not isinstance(quantity, Quantity):
                raise self._fail(f"'to {node.unit.symbol}' needs a quantity with a unit", node)
            return self._guard(quantity.to(node.unit), node)
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Binary):
            if node.operator in ("and", "or"):
                return self._logic(node)
            return self._arithmetic(node, self.value(node.left), self.value(node.right))
        if isinstance(node, Compare):
            return self._compare(node)
        return self._call(node)

    # -- operators ------------------------------------------------------------------------

    def _unary(self, node: Unary) -> Value:
        operand = self.value(node.operand)
        if node.operator == "not":
            return not self._boolean(operand, node)
        if isinstance(operand, Quantity):
            sign = -1 if node.operator == "-" else 1
            return Quantity(sign * operand.value, operand.unit)
        number = self._plain_number(operand, node)
        return -number if node.operator == "-" else number

    def _logic(self, node: Binary) -> bool:
        left = self._boolean(self.value(node.left), node)
        if node.operator == "and" and not left:
            return False
        if node.operator == "or" and left:
            return True
        return self._boolean(self.value(node.right), node)

    def _arithmetic(self, node: Binary, left: Value, right: Value) -> Value:
        if isinstance(left, Quantity) or isinstance(right, Quantity):
            return self._quantity_arithmetic(node, left, right)
        left_number = self._plain_number(left, node)
        right_number = self._plain_number(right, node)
        if node.operator == "**":
            return self._power(node, left_number, right_number)
        if node.operator in ("/", "//", "%") and right_number == 0:
            raise self._fail("division by zero", node)
        try:
            result = _ARITHMETIC[node.operator](left_number, right_number)
        except OverflowError:
            raise self._fail(_TOO_LARGE_FOR_FLOAT, node) from None
        # Fraction // Fraction gives an int; keep every exact number a Fraction.
        return self._guard(Fraction(result) if isinstance(result, int) else result, node)

    def _quantity_arithmetic(self, node: Binary, left: Value, right: Value) -> Value:
        symbol = node.operator
        if isinstance(left, Quantity) and isinstance(right, Quantity):
            if symbol in ("+", "-"):
                if left.unit != right.unit and (left.unit.has_offset or right.unit.has_offset):
                    raise self._fail(
                        f"adding {left.unit.symbol} and {right.unit.symbol} is ambiguous for "
                        "temperatures; convert one of them first",
                        node,
                    )
                return self._combine(node, left, right.to(left.unit).value)
            if symbol == "/":
                return self._arithmetic(node, left.value, right.to(left.unit).value)
        elif isinstance(left, Quantity) and symbol in ("*", "/"):
            return self._combine(node, left, self._plain_number(right, node))
        elif isinstance(right, Quantity) and symbol == "*":
            return self._combine(node, right, self._plain_number(left, node))
        raise self._fail(f"cannot apply {symbol!r} to {describe(left)} and {describe(right)}", node)

    def _combine(self, node: Binary, quantity: Quantity, number: Number) -> Quantity:
        """``quantity <op> number`` keeping the quantity's unit."""
        value = self._arithmetic(node, quantity.value, number)
        return Quantity(value, quantity.unit)

    def _power(self, node: Binary, base: Number, exponent: Number) -> Number:
        if base == 0 and exponent < 0:
            raise self._fail("division by zero", node)
        if isinstance(exponent, Fraction) and exponent.denominator == 1:
            if abs(exponent) > MAX_EXPONENT:
                raise self._fail(
                    f"exponent {number_text(exponent)} is larger than {MAX_EXPONENT}", node
                )
            if isinstance(base, Fraction):
                size = max(base.numerator.bit_length(), base.denominator.bit_length())
                if size * abs(exponent) > MAX_RESULT_BITS:
                    raise self._fail(f"result would exceed {MAX_RESULT_BITS} bits", node)
                return base**exponent
        if base < 0:
            raise self._fail("a negative number to a fractional power is not real", node)
        try:
            return self._guard(float(base) ** float(exponent), node)
        except OverflowError:
            raise self._fail(_TOO_LARGE_FOR_FLOAT, node) from None

    def _compare(self, node: Compare) -> bool:
        left = self.value(node.first)
        for symbol, right_node in node.links:
            right = self.value(right_node)
            if not _ORDER[symbol](*self._comparable(node, symbol, left, right)):
                return False
            left = right
        return True

    def _comparable(self, node: Compare, symbol: str, left: Value, right: Value) -> tuple:
        if isinstance(left, Quantity) and isinstance(right, Quantity):
            return left.value, right.to(left.unit).value
        equality = symbol in ("==", "!=")
        both_numbers = not isinstance(left, bool | str | Quantity) and not isinstance(
            right, bool | str | Quantity
        )
        same_kind = type(left) is type(right) and isinstance(left, bool | str)
        if both_numbers or (equality and same_kind):
            return left, right
        raise self._fail(f"cannot compare {describe(left)} {symbol} {describe(right)}", node)

    def _call(self, node: Call) -> Value:
        arguments = [self.value(argument) for argument in node.arguments]
        if node.function == "calc":
            if not isinstance(arguments[0], str):
                raise self._fail("calc() needs the expression as a string", node)
            return calculate(arguments[0])
        implementation = FUNCTIONS[node.function][0]
        try:
            return self._guard(implementation(*arguments), node)
        except ExpressionError as error:
            raise self._fail(f"{node.function}(): {error.reason}", node) from None
        except OverflowError:
            raise self._fail(f"{node.function}(): {_TOO_LARGE_FOR_FLOAT}", node) from None

    # -- checks ---------------------------------------------------------------------------

    def _plain_number(self, value: Value, node: Node) -> Number:
        if isinstance(value, bool) or not isinstance(value, Fraction | float):
            raise self._fail(f"expected a number, got {describe(value)}", node)
        return value

    def _boolean(self, value: Value, node: Node) -> bool:
        if not isinstance(value, bool):
            raise self._fail(f"expected true or false, got {describe(value)}", node)
        return value

    def _guard(self, value: Value, node: Node) -> Value:
        """Refuse results that are not finite or too large to keep computing with."""
        number = value.value if isinstance(value, Quantity) else value
        if isinstance(number, float) and not math.isfinite(number):
            raise self._fail("result is not a finite number", node)
        if isinstance(number, Fraction) and not isinstance(number, bool):
            size = max(number.numerator.bit_length(), number.denominator.bit_length())
            if size > MAX_RESULT_BITS:
                raise self._fail(f"result exceeds {MAX_RESULT_BITS} bits", node)
        return value
