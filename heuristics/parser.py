"""A recursive-descent parser for the rule expression language.

Grammar, loosest binding first (``to`` converts units, e.g. ``5 km to m``)::

    expression := logic ("to" UNIT)*
    logic      := conjunct ("or" conjunct)*
    conjunct   := negation ("and" negation)*
    negation   := "not" negation | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*
    sum        := product (("+" | "-") product)*
    product    := sign (("*" | "/" | "//" | "%") sign)*
    sign       := ("-" | "+") sign | power
    power      := measured ("**" sign)?
    measured   := atom UNIT?            (a unit may follow a number or a parenthesis)
    atom       := NUMBER | STRING | "true" | "false" | NAME | NAME "(" arguments ")"
                | "(" expression ")"

The parser bounds the source length, the nesting depth and the number of nodes, so that
hostile input fails fast with an ExpressionError instead of exhausting the stack or memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import ExpressionError
from .functions import FUNCTIONS, SPECIAL_FUNCTIONS
from .syntax import Binary, Call, Compare, Convert, Literal, Name, Node, Unary, WithUnit
from .tokenizer import Token, tokenize
from .units import Unit, lookup_unit

MAX_LENGTH = 1000
MAX_NESTING = 32
MAX_NODES = 256
MAX_DECIMAL_EXPONENT = 400

KEYWORDS = frozenset({"and", "or", "not", "to", "true", "false"})
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, syntax tree and the names it refers to.

    ``names`` maps every referenced name to the position of its first use, so that a pack
    loader can reject undeclared names and point at them.
    """

    source: str
    root: Node
    names: dict[str, int]


def parse(source: str) -> Expression:
    """Parse ``source`` into an Expression; raises ExpressionError with the failing position."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", source[:60] + "…")
    return _Parser(source).parse()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[Token] = tokenize(source)
        self.index = 0
        self.nesting = 0
        self.nodes = 0
        self.names: dict[str, int] = {}

    # -- helpers --------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _fail(self, message: str, token: Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, (token or self.current).position)

    def _is(self, kind: str, *texts: str) -> bool:
        token = self.current
        return token.kind == kind and (not texts or token.text in texts)

    def _take(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def _expect_op(self, text: str) -> Token:
        if not self._is("op", text):
            found = self.current.text or "the end"
            raise self._fail(f"expected {text!r} but found {found!r}")
        return self._take()

    def _node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._fail(f"expression has more than {MAX_NODES} parts")
        return node

    def _enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self._fail(f"expression nested deeper than {MAX_NESTING} levels")

    def _leave(self) -> None:
        self.nesting -= 1

    # -- grammar --------------------------------------------------------------------------

    def parse(self) -> Expression:
        root = self._expression()
        if not self._is("end"):
            raise self._fail(f"unexpected {self.current.text!r}")
        return Expression(self.source, root, self.names)

    def _expression(self) -> Node:
        node = self._logic()
        while self._is("name", "to"):
            keyword = self._take()
            node = self._node(Convert(node, self._unit_after(keyword), keyword.position))
        return node

    def _unit_after(self, keyword: Token) -> Unit:
        token = self.current
        unit = lookup_unit(token.text) if token.kind == "name" else None
        if unit is None:
            raise self._fail(f"expected a unit after {keyword.text!r}")
        self._take()
        return unit

    def _logic(self) -> Node:
        node = self._conjunct()
        while self._is("name", "or"):
            operator = self._take()
            node = self._node(Binary("or", node, self._conjunct(), operator.position))
        return node

    def _conjunct(self) -> Node:
        node = self._negation()
        while self._is("name", "and"):
            operator = self._take()
            node = self._node(Binary("and", node, self._negation(), operator.position))
        return node

    def _negation(self) -> Node:
        if not self._is("name", "not"):
            return self._comparison()
        operator = self._take()
        self._enter()
        node = self._node(Unary("not", self._negation(), operator.position))
        self._leave()
        return node

    def _comparison(self) -> Node:
        first = self._sum()
        links: list[tuple[str, Node]] = []
        while self._is("op", *_COMPARISONS):
            links.append((self._take().text, self._sum()))
        if not links:
            return first
        return self._node(Compare(first, tuple(links), _start(first)))

    def _sum(self) -> Node:
        node = self._product()
        while self._is("op", "+", "-"):
            operator = self._take()
            node = self._node(Binary(operator.text, node, self._product(), operator.position))
        return node

    def _product(self) -> Node:
        node = self._sign()
        while self._is("op", "*", "/", "//", "%"):
            operator = self._take()
            node = self._node(Binary(operator.text, node, self._sign(), operator.position))
        return node

    def _sign(self) -> Node:
        if not self._is("op", "-", "+"):
            return self._power()
        operator = self._take()
        self._enter()
        node = self._node(Unary(operator.text, self._sign(), operator.position))
        self._leave()
        return node

    def _power(self) -> Node:
        base = self._measured()
        if not self._is("op", "**"):
            return base
        operator = self._take()
        self._enter()
        exponent = self._sign()  # right-associative: 2**3**2 is 2**(3**2)
        self._leave()
        return self._node(Binary("**", base, exponent, operator.position))

    def _measured(self) -> Node:
        may_take_unit = self._is("number") or self._is("op", "(")
        node = self._atom()
        token = self.current
        unit = lookup_unit(token.text) if token.kind == "name" else None
        if may_take_unit and unit is not None and token.text not in KEYWORDS:
            self._take()
            node = self._node(WithUnit(node, unit, token.position))
        return node

    def _atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            return self._node(Literal(self._number(self._take()), token.position))
        if token.kind == "string":
            return self._node(Literal(self._take().text, token.position))
        if token.kind == "name":
            return self._name_or_call()
        if self._is("op", "("):
            self._take()
            self._enter()
            node = self._expression()
            self._leave()
            self._expect_op(")")
            return node
        found = token.text or "the end"
        raise self._fail(f"expected a value but found {found!r}")

    def _number(self, token: Token) -> Fraction:
        exponent = token.text.lower().partition("e")[2]
        if exponent and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
            raise self._fail(f"decimal exponent beyond ±{MAX_DECIMAL_EXPONENT}", token)
        return Fraction(token.text)

    def _name_or_call(self) -> Node:
        token = self._take()
        if token.text in ("true", "false"):
            return self._node(Literal(token.text == "true", token.position))
        if token.text in KEYWORDS:
            raise self._fail(f"unexpected keyword {token.text!r}", token)
        if not self._is("op", "("):
            self.names.setdefault(token.text, token.position)
            return self._node(Name(token.text, token.position))
        return self._call(token)

    def _call(self, token: Token) -> Node:
        if token.text in FUNCTIONS:
            fewest, most = FUNCTIONS[token.text][1:]
        elif token.text in SPECIAL_FUNCTIONS:
            fewest, most = SPECIAL_FUNCTIONS[token.text]
        else:
            raise self._fail(f"unknown function {token.text!r}", token)
        self._take()
        self._enter()
        arguments: list[Node] = []
        if not self._is("op", ")"):
            arguments.append(self._expression())
            while self._is("op", ","):
                self._take()
                arguments.append(self._expression())
        self._leave()
        self._expect_op(")")
        if not fewest <= len(arguments) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise self._fail(
                f"{token.text}() takes {wanted} argument(s), got {len(arguments)}", token
            )
        return self._node(Call(token.text, tuple(arguments), token.position))


def _start(node: Node) -> int:
    """Where the text of ``node`` begins (a binary node's own position is its operator)."""
    while isinstance(node, Binary | Compare | WithUnit | Convert):
        node = (
            node.left
            if isinstance(node, Binary)
            else node.first
            if isinstance(node, Compare)
            else node.operand
        )
    return node.position
