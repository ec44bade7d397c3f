"""Splits an expression into tokens, each with its character position for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ExpressionError

# Longest operators first, so that "**" is not read as two "*".
OPERATORS = ("**", "//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")", ",")

_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = re.compile(r"\s+")

# Characters people (or attackers) try that the language deliberately lacks, with the reason.
_FORBIDDEN = {
    ".": "attribute access ('.') is not allowed",
    "[": "indexing ('[') is not allowed",
    "]": "indexing (']') is not allowed",
    "=": "assignment ('=') is not allowed; compare with '=='",
    ";": "statements (';') are not allowed",
    ":": "':' is not allowed",
    "@": "decorators and '@' are not allowed",
    "{": "'{' is not allowed",
    "}": "'}' is not allowed",
}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is number, string, name, op or end; ``position`` a 0-based offset."""

    kind: str
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an ``end`` token; raises ExpressionError."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        char = source[position]
        space = _SPACE.match(source, position)
        if space:
            position = space.end()
            continue
        number = _NUMBER.match(source, position)
        if number:
            tokens.append(Token("number", number.group(), position))
            position = number.end()
            continue
        name = _NAME.match(source, position)
        if name:
            if name.group().startswith("_"):
                raise ExpressionError("names starting with '_' are not allowed", source, position)
            tokens.append(Token("name", name.group(), position))
            position = name.end()
            continue
        if char in "'\"":
            end = source.find(char, position + 1)
            if end < 0:
                raise ExpressionError("unterminated string", source, position)
            tokens.append(Token("string", source[position + 1 : end], position))
            position = end + 1
            continue
        operator = next((op for op in OPERATORS if source.startswith(op, position)), None)
        if operator is None:
            reason = _FORBIDDEN.get(char, f"unexpected character {char!r}")
            raise ExpressionError(reason, source, position)
        tokens.append(Token("op", operator, position))
        position += len(operator)
    tokens.append(Token("end", "", len(source)))
    return tokens
