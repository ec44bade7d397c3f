"""Reads a TOML rule pack, checks every part of it and compiles it into a PackSpec.

Everything that can be checked without inputs is checked here, so that a broken pack fails
when it is loaded, with its file and line, rather than in the field: TOML syntax, unknown or
mistyped keys, values beyond bounds (toml_limits.py), expressions (parsed with the safe parser),
names that are not declared, pattern relations and arities, duplicate ids, and circular
definitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from .cycles import find_cycle
from .errors import ExpressionError, InputError, PackError
from .evaluator import evaluate
from .functions import Value
from .inputs import INPUT_KINDS, coerce_input
from .linemap import LineMap, Path, dotted
from .parser import Expression, parse
from .patterns import Pattern, Slot, Variable, parse_pattern
from .schema import (
    ExampleSpec,
    InputSpec,
    PackSpec,
    QuestionSpec,
    RelationSpec,
    RuleSpec,
    StatementSpec,
)
from .templates import Template, parse_template
from .toml_limits import check_text, check_values
from .units import lookup_unit

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_SECTIONS = {
    "pack", "inputs", "constants", "derived", "facts", "relations", "outputs",
    "rule", "statement", "question", "example",
}  # fmt: skip
_TOML_ERROR_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def load_pack(text: str, file: str) -> PackSpec:
    """Compile the TOML ``text`` of a pack; ``file`` names it in errors (PackError)."""
    lines = LineMap(text)
    check_text(lines, file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_ERROR_LINE.search(message)
        line = int(found.group(1)) if found else None
        raise PackError(
            f"TOML syntax error: {_TOML_ERROR_LINE.sub('', message)}", file, line
        ) from None
    check_values(data, lines, file)
    return _Loader(file, lines, data).build()


class _Loader:
    def __init__(self, file: str, lines: LineMap, data: dict[str, Any]) -> None:
        self.file = file
        self.lines = lines
        self.data = data

    # -- reporting ------------------------------------------------------------------------

    def fail(self, path: Sequence[str | int], message: str) -> PackError:
        return PackError(message, self.file, self.lines.line_of(path))

    def line(self, path: Sequence[str | int]) -> int:
        return self.lines.line_of(path) or 1

    def table(self, path: Path, value: object, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"{dotted(path)} must be a table")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise self.fail((*path, unknown[0]), f"unknown key {unknown[0]!r} in {dotted(path)}")
        return value

    def typed(self, path: Path, value: object, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise self.fail(path, f"{dotted(path)} must be {what}")
        return value

    def strings(self, path: Path, value: object) -> list[str]:
        items = self.typed(path, value, list, "a list of strings")
        for item in items:
            self.typed(path, item, str, "a list of strings")
        return items

    def compile(self, path: Path, text: object, build: Callable[[str], Any]) -> Any:
        """``build(text)`` with its ExpressionError turned into a PackError at ``path``."""
        source = self.typed(path, text, str, "a string")
        try:
            return build(source)
        except ExpressionError as error:
            raise self.fail(path, f"{dotted(path)}: {error}") from None

    def check_names(self, path: Path, expression: Expression, known: Iterable[str]) -> None:
        known = set(known)
        for name, position in expression.names.items():
            if name not in known:
                raise self.fail(
                    path,
                    f"{dotted(path)}: unknown name {name!r} at column {position + 1} in "
                    f"{expression.source!r} (declare it under [inputs], [constants], [derived] "
                    "or [facts])",
                )

    # -- sections -------------------------------------------------------------------------

    def build(self) -> PackSpec:
        self.table((), self.data, _SECTIONS)
        header = self.table(("pack",), self.data.get("pack"), ("name", "description"))
        name = self.typed(("pack", "name"), header.get("name"), str, "a string")
        description = self.typed(
            ("pack", "description"), header.get("description", ""), str, "a string"
        )
        inputs = self.inputs()
        constants = self.constants()
        relations = self.relations()
        outputs = {
            key: self.typed(("outputs", key), text, str, "a description string")
            for key, text in self.section("outputs").items()
        }
        derived = self.derived(inputs, constants)
        values = {*inputs, *constants, *derived}
        rules = self.rules(values, relations, outputs)
        return PackSpec(
            name=name,
            description=description,
            file=self.file,
            inputs=inputs,
            constants=constants,
            derived=derived,
            derived_lines={key: self.line(("derived", key)) for key in derived},
            relations=relations,
            outputs=outputs,
            rules=rules,
            statements=self.statements(relations),
            questions=self.questions(constants, relations),
            examples=self.examples(inputs, relations),
        )

    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        return self.table((key,), value, value.keys() if isinstance(value, dict) else ())

    def array(self, key: str) -> list[Any]:
        return self.typed((key,), self.data.get(key, []), list, f"an array of [[{key}]] tables")

    def inputs(self) -> dict[str, InputSpec]:
        specs: dict[str, InputSpec] = {}
        allowed = ("type", "unit", "range", "choices", "default", "description")
        for name, raw in self.section("inputs").items():
            path = ("inputs", name)
            table = self.table(path, raw, allowed)
            kind = self.typed((*path, "type"), table.get("type", "number"), str, "a string")
            if kind not in INPUT_KINDS:
                raise self.fail((*path, "type"), f"input type must be one of {INPUT_KINDS}")
            unit = None
            if "unit" in table:
                unit = lookup_unit(self.typed((*path, "unit"), table["unit"], str, "a string"))
                if unit is None:
                    raise self.fail((*path, "unit"), f"unknown unit {table['unit']!r}")
            low, high = self.bounds((*path, "range"), table.get("range"))
            spec = InputSpec(
                name=name,
                kind=kind,
                line=self.line(path),
                unit=unit,
                low=low,
                high=high,
                choices=tuple(self.strings((*path, "choices"), table.get("choices", []))),
                description=self.typed(
                    (*path, "description"), table.get("description", ""), str, "a string"
                ),
            )
            if "default" in table:
                spec = replace(
                    spec, default=self.input_value((*path, "default"), spec, table["default"])
                )
            specs[name] = spec
        return specs

    def bounds(self, path: Path, value: object) -> tuple[Fraction | None, Fraction | None]:
        if value is None:
            return None, None
        pair = self.typed(path, value, list, "a list [low, high]")
        if len(pair) != 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in pair
        ):
            raise self.fail(path, f"{dotted(path)} must be two numbers [low, high]")
        low, high = (Fraction(str(v)) for v in pair)
        if low > high:
            raise self.fail(path, f"{dotted(path)}: low {pair[0]} is above high {pair[1]}")
        return low, high

    def input_value(self, path: Path, spec: InputSpec, raw: object) -> Value:
        try:
            return coerce_input(spec, raw)
        except InputError as error:
            raise self.fail(path, str(error)) from None

    def constants(self) -> dict[str, Value]:
        constants: dict[str, Value] = {}
        for name, raw in self.section("constants").items():
            path = ("constants", name)
            if isinstance(raw, bool | int | float):
                constants[name] = raw if isinstance(raw, bool) else Fraction(str(raw))
                continue
            expression = self.compile(path, raw, parse)
            self.check_names(path, expression, constants)
            try:
                constants[name] = evaluate(expression, constants)
            except ExpressionError as error:
                raise self.fail(path, f"constants.{name}: {error}") from None
        return constants

    def relations(self) -> dict[str, RelationSpec]:
        relations = {
            name: RelationSpec(
                name, 0, self.line(("facts", name)),
                description=self.typed(("facts", name), text, str, "a description string"),
            )
            for name, text in self.section("facts").items()
        }  # fmt: skip
        for name, raw in self.section("relations").items():
            path = ("relations", name)
            table = self.table(path, raw, ("args", "functional", "previous", "description"))
            args = self.strings((*path, "args"), table.get("args"))
            if not args:
                raise self.fail(path, f"relation {name!r} needs at least one argument name")
            if name in relations:
                raise self.fail(path, f"{name!r} is declared both under [facts] and [relations]")
            relations[name] = RelationSpec(
                name,
                len(args),
                self.line(path),
                functional=self.typed(
                    (*path, "functional"), table.get("functional", False), bool, "true or false"
                ),
                previous=self.typed(
                    (*path, "previous"), table.get("previous", ""), str, "a relation name"
                ),
                description=self.typed(
                    (*path, "description"), table.get("description", ""), str, "a string"
                ),
            )
        for name, relation in relations.items():
            if not relation.previous:
                continue
            path = ("relations", name, "previous")
            if not relation.functional:
                raise self.fail(path, f"only a functional relation has a previous value: {name!r}")
            history = relations.get(relation.previous)
            if history is None or history.arity != relation.arity + 1:
                raise self.fail(
                    path,
                    f"{relation.previous!r} must be a relation with {relation.arity + 1} arguments "
                    f"(those of {name!r}, then the value replaced)",
                )
        return relations

    def derived(
        self, inputs: dict[str, InputSpec], constants: dict[str, Value]
    ) -> dict[str, Expression]:
        expressions = {
            name: self.compile(("derived", name), text, parse)
            for name, text in self.section("derived").items()
        }
        for name, expression in expressions.items():
            self.check_names(("derived", name), expression, {*inputs, *constants, *expressions})
        graph = {name: [n for n in e.names if n in expressions] for name, e in expressions.items()}
        cycle = find_cycle(graph)
        if cycle:
            raise self.fail(
                ("derived", cycle[0]),
                f"derived values are defined in terms of each other: {' -> '.join(cycle)}",
            )
        order = _topological(graph)
        return {name: expressions[name] for name in order}

    def rules(
        self, values: set[str], relations: dict[str, RelationSpec], outputs: dict[str, str]
    ) -> tuple[RuleSpec, ...]:
        allowed = ("id", "priority", "match", "when", "assert", "then", "because")
        flags = {name for name, relation in relations.items() if relation.arity == 0}
        rules: list[RuleSpec] = []
        for index, raw in enumerate(self.array("rule")):
            path = ("rule", index)
            table = self.table(path, raw, allowed)
            rule_id = self.identifier(path, table, (rule.id for rule in rules))
            match = self.patterns((*path, "match"), table.get("match", []), relations)
            bound = {v for pattern in match for v in pattern.names_of(Variable)}
            asserts = self.patterns((*path, "assert"), table.get("assert", []), relations)
            for pattern in asserts:
                unbound = [v for v in pattern.names_of(Variable) if v not in bound]
                if unbound:
                    raise self.fail(
                        (*path, "assert"), f"variable ?{unbound[0]} in {pattern.text!r} is not "
                        "bound by any 'match' pattern",
                    )  # fmt: skip
            when = None
            if "when" in table:
                when = self.compile((*path, "when"), table["when"], parse)
                self.check_names((*path, "when"), when, values | flags)
            then = self.outcomes((*path, "then"), table.get("then", {}), outputs, values | bound)
            if not asserts and not then:
                raise self.fail(path, f"rule {rule_id!r} neither asserts facts nor decides outputs")
            rules.append(
                RuleSpec(
                    id=rule_id,
                    line=self.line(path),
                    priority=self.typed(
                        (*path, "priority"), table.get("priority", 0), int, "an integer"
                    ),
                    order=index,
                    match=tuple(match),
                    when=when,
                    asserts=tuple(asserts),
                    then=then,
                    because=self.typed(
                        (*path, "because"), table.get("because", ""), str, "a string"
                    ),
                )
            )
        self.check_rule_cycles(rules, flags)
        return tuple(rules)

    def identifier(self, path: Path, table: dict[str, Any], taken: Iterable[str]) -> str:
        identifier = self.typed((*path, "id"), table.get("id"), str, "a string (the rule id)")
        if identifier in set(taken):
            raise self.fail((*path, "id"), f"duplicate id {identifier!r} in [[{path[0]}]]")
        return identifier

    def patterns(
        self,
        path: Path,
        texts: object,
        relations: dict[str, RelationSpec],
        slots: Iterable[str] = (),
    ) -> list[Pattern]:
        patterns = [self.compile(path, text, parse_pattern) for text in self.strings(path, texts)]
        for pattern in patterns:
            self.check_pattern(path, pattern, relations, slots)
        return patterns

    def check_pattern(
        self, path: Path, pattern: Pattern, relations: dict[str, RelationSpec], slots: Iterable[str]
    ) -> None:
        relation = relations.get(pattern.relation)
        if relation is None:
            raise self.fail(
                path, f"pattern {pattern.text!r} uses undeclared relation {pattern.relation!r}"
            )
        if relation.arity != pattern.arity:
            raise self.fail(
                path, f"pattern {pattern.text!r}: {relation.name!r} takes {relation.arity} "
                f"argument(s), not {pattern.arity}",
            )  # fmt: skip
        unknown = [name for name in pattern.names_of(Slot) if name not in set(slots)]
        if unknown:
            raise self.fail(
                path, f"pattern {pattern.text!r}: slot {{{unknown[0]}}} is not a named group "
                "of this entry's regular expression",
            )  # fmt: skip

    def outcomes(
        self, path: Path, raw: object, outputs: dict[str, str], names: set[str]
    ) -> dict[str, Template]:
        table = self.table(path, raw, outputs.keys())
        outcomes = {
            key: self.compile((*path, key), text, parse_template) for key, text in table.items()
        }
        for key, template in outcomes.items():
            for expression in template.expressions:
                self.check_names((*path, key), expression, names)
        return outcomes

    def check_rule_cycles(self, rules: list[RuleSpec], flags: set[str]) -> None:
        """Reject rules whose ``when`` depends, through asserted flags, on their own conclusion.

        A ``when`` may negate a flag, so such circles have no single meaning; recursion over
        ``match`` patterns is allowed, because patterns only ever require facts to be present.
        """
        asserters: dict[str, list[str]] = {}
        for rule in rules:
            for pattern in rule.asserts:
                asserters.setdefault(pattern.relation, []).append(rule.id)
        graph = {
            rule.id: [
                asserter
                for name in (rule.when.names if rule.when else {})
                if name in flags
                for asserter in asserters.get(name, [])
            ]
            for rule in rules
        }
        cycle = find_cycle(graph)
        if cycle:
            index = next(i for i, rule in enumerate(rules) if rule.id == cycle[0])
            raise self.fail(
                ("rule", index, "when"),
                "circular rules: "
                + " <- ".join(f"'{rule_id}'" for rule_id in cycle)
                + " (each one's 'when' tests a fact the next one asserts)",
            )

    def regex(self, path: Path, text: object) -> re.Pattern[str]:
        return self.compile(path, text, _compile_regex)

    def statements(self, relations: dict[str, RelationSpec]) -> tuple[StatementSpec, ...]:
        statements: list[StatementSpec] = []
        for index, raw in enumerate(self.array("statement")):
            path = ("statement", index)
            table = self.table(path, raw, ("id", "pattern", "assert", "retract"))
            statement_id = self.identifier(path, table, (s.id for s in statements))
            regex = self.regex((*path, "pattern"), table.get("pattern"))
            effects = {
                key: self.patterns((*path, key), table.get(key, []), relations, regex.groupindex)
                for key in ("assert", "retract")
            }
            # a retract may use ?variables (it removes every fact that matches); an assert
            # must name one fact
            for pattern in effects["assert"]:
                if pattern.names_of(Variable):
                    raise self.fail(
                        (*path, "assert"),
                        f"statement asserts take {{slots}}, not ?variables: {pattern.text!r}",
                    )
            statements.append(
                StatementSpec(
                    statement_id,
                    self.line(path),
                    regex,
                    tuple(effects["assert"]),
                    tuple(effects["retract"]),
                )
            )
        return tuple(statements)

    def questions(
        self, constants: dict[str, Value], relations: dict[str, RelationSpec]
    ) -> tuple[QuestionSpec, ...]:
        allowed = ("id", "priority", "pattern", "ask", "answer", "none", "join", "likely")
        questions: list[QuestionSpec] = []
        for index, raw in enumerate(self.array("question")):
            path = ("question", index)
            table = self.table(path, raw, allowed)
            question_id = self.identifier(path, table, (q.id for q in questions))
            regex = self.regex((*path, "pattern"), table.get("pattern"))
            ask = None
            if "ask" in table:
                ask = self.compile((*path, "ask"), table["ask"], parse_pattern)
                self.check_pattern((*path, "ask"), ask, relations, regex.groupindex)
            groups = {*regex.groupindex, *constants}
            answer = self.template(
                (*path, "answer"),
                table.get("answer"),
                groups | (set(ask.names_of(Variable)) | {"count"} if ask else set()),
            )
            none = (
                self.template((*path, "none"), table["none"], groups) if "none" in table else None
            )
            questions.append(
                QuestionSpec(
                    id=question_id,
                    line=self.line(path),
                    priority=self.typed(
                        (*path, "priority"), table.get("priority", 0), int, "an integer"
                    ),
                    regex=regex,
                    answer=answer,
                    ask=ask,
                    none=none,
                    join=self.typed((*path, "join"), table.get("join", ", "), str, "a string"),
                    likely=self.typed(
                        (*path, "likely"), table.get("likely", False), bool, "true or false"
                    ),
                )
            )
        return tuple(sorted(questions, key=lambda q: -q.priority))

    def template(self, path: Path, text: object, names: set[str]) -> Template:
        template = self.compile(path, text, parse_template)
        for expression in template.expressions:
            self.check_names(path, expression, names)
        return template

    def examples(
        self, inputs: dict[str, InputSpec], relations: dict[str, RelationSpec]
    ) -> tuple[ExampleSpec, ...]:
        examples: list[ExampleSpec] = []
        for index, raw in enumerate(self.array("example")):
            path = ("example", index)
            table = self.table(path, raw, ("question", "story", "inputs", "facts", "expect"))
            given = self.table((*path, "inputs"), table.get("inputs", {}), inputs.keys())
            for key, value in given.items():
                self.input_value((*path, "inputs", key), inputs[key], value)
            facts = self.strings((*path, "facts"), table.get("facts", []))
            for fact in facts:
                if relations.get(fact) is None or relations[fact].arity != 0:
                    raise self.fail(
                        (*path, "facts"), f"{fact!r} is not a declared fact (see [facts])"
                    )
            question = table.get("question")
            if question is not None:
                expect = self.typed(
                    (*path, "expect"), table.get("expect"), str, "the expected answer text"
                )
                self.typed((*path, "question"), question, str, "a string")
            else:
                expect = self.typed(
                    (*path, "expect"),
                    table.get("expect"),
                    dict,
                    "a table of output = expected value",
                )
                for key, value in expect.items():
                    self.typed((*path, "expect", key), value, str, "a string")
            examples.append(
                ExampleSpec(
                    line=self.line(path),
                    expect=expect,
                    question=question,
                    story=self.typed(
                        (*path, "story"), table.get("story"), (str, type(None)), "a string"
                    ),
                    inputs=dict(given),
                    facts=tuple(facts),
                )
            )
        return tuple(examples)


def _compile_regex(source: str) -> re.Pattern[str]:
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise ExpressionError(f"bad regular expression: {error}", source, error.pos) from None


def _topological(graph: dict[str, list[str]]) -> list[str]:
    """Names ordered so that each comes after everything it refers to (graph is acyclic)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in graph[name]:
            visit(dependency)
        order.append(name)

    for name in graph:
        visit(name)
    return order


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
