"""Answer templates: text with ``{expression}`` placeholders, e.g. ``"on for {minutes} min"``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ExpressionError
from .evaluator import evaluate
from .functions import Value
from .parser import Expression, parse
from .values import format_value


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text pieces and expressions, in order."""

    source: str
    parts: tuple[str | Expression, ...]

    @property
    def expressions(self) -> list[Expression]:
        """The placeholders' expressions (for checking the names they use)."""
        return [part for part in self.parts if isinstance(part, Expression)]

    def render(self, names: Mapping[str, Value]) -> tuple[str, Value]:
        """(text, value): the value is the placeholder's own if the template is just one."""
        values = [
            evaluate(part, names) if isinstance(part, Expression) else part for part in self.parts
        ]
        text = "".join(format_value(value) for value in values)
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return text, values[0]
        return text, text


def parse_template(source: str) -> Template:
    """Parse ``source``; raises ExpressionError for an unbalanced brace or a bad placeholder."""
    parts: list[str | Expression] = []
    position = 0
    while position < len(source):
        opening = source.find("{", position)
        closing = source.find("}", position)
        if closing != -1 and (opening == -1 or closing < opening):
            raise ExpressionError("'}' without a matching '{'", source, closing)
        if opening == -1:
            parts.append(source[position:])
            break
        if opening > position:
            parts.append(source[position:opening])
        if closing == -1:
            raise ExpressionError("'{' without a matching '}'", source, opening)
        try:
            parts.append(parse(source[opening + 1 : closing]))
        except ExpressionError as error:
            offset = opening + 1 + (error.position or 0)
            raise ExpressionError(error.reason, source, offset) from None
        position = closing + 1
    return Template(source, tuple(parts))
