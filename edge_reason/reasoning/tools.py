"""Tools a model can call while it writes, and that answer without a model.

A model calls a tool inside a calculator annotation, the GSM8K convention: it writes
``<<48/2=`` and the runtime inserts the exact result and ``>>``; a named tool is called as
``<<convert{"value": 5, "from": "km", "to": "m"}=``. User tools are registered with a name,
a description, a Python callable and a JSON-schema subset for their arguments, which is
checked strictly: an object with typed ``properties``, ``required`` names, and no other keys.
Supported keywords: ``type`` (object, string, number, integer, boolean, array), ``properties``,
``required``, ``items``, ``enum``, ``minimum``, ``maximum``, ``minLength``, ``maxLength``,
``pattern`` (a regular expression a string must contain a match of, as in JSON Schema: anchor
it with ``^...$``; keep to what Python's ``re`` and Rust's ``regex`` read alike, since a chat
model's calls are constrained by it too), ``description``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .arithmetic import evaluate, format_number
from .errors import CalculationError, ToolArgumentError, ToolError

_SCHEMA_KEYS = {
    "object": {"type", "properties", "required", "description"},
    "array": {"type", "items", "minLength", "maxLength", "description"},
    "string": {"type", "enum", "minLength", "maxLength", "pattern", "description"},
    "number": {"type", "enum", "minimum", "maximum", "description"},
    "integer": {"type", "enum", "minimum", "maximum", "description"},
    "boolean": {"type", "description"},
}
_OPERAND = r"[-+(\s]*(?:\d+(?:\.\d+)?|\.\d+)[\s)]*"
_ARITHMETIC = rf"^{_OPERAND}(?:(?:\*\*|//|[-+*/]){_OPERAND})*$"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<arguments>\{.*\})\s*", re.DOTALL)


@dataclass(frozen=True)
class Tool:
    """A callable the model (or the fallback) may use; ``parameters`` is its argument schema."""

    name: str
    description: str
    function: Callable[..., Any]
    parameters: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ToolError(f"tool name {self.name!r} must be an identifier")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ToolError(f"tool {self.name!r}: give a description")
        if not callable(self.function):
            raise ToolError(f"tool {self.name!r}: function must be callable")
        _check_schema(self.parameters, f"tool {self.name!r} parameters", top=True)

    def __call__(self, arguments: Mapping[str, Any]) -> str:
        """Validate ``arguments`` and run the tool; the result is returned as text."""
        _check_value(arguments, self.parameters, f"tool {self.name!r} arguments")
        try:
            result = self.function(**arguments)
        except (ArithmeticError, ValueError, TypeError, KeyError, LookupError) as error:
            raise ToolError(f"tool {self.name!r} failed: {error}") from error
        return result if isinstance(result, str) else json.dumps(result)

    def as_function(self) -> dict[str, Any]:
        """The tool as ``Engine.chat(tools=[...])`` takes it (OpenAI's function form): its
        name, description and argument schema in JSON Schema's words (an array's
        ``minLength``/``maxLength`` are ``minItems``/``maxItems`` there)."""
        function = {"name": self.name, "description": self.description}
        return {
            "type": "function",
            "function": {**function, "parameters": _json_schema(self.parameters)},
        }


class ToolRegistry:
    """Tools by name. ``ToolRegistry.default()`` holds the calculator and unit conversion."""

    def __init__(self, tools: Mapping[str, Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = dict(tools or {})

    @classmethod
    def default(cls) -> ToolRegistry:
        registry = cls()
        registry.register(CALCULATOR)
        registry.register(UNIT_CONVERTER)
        return registry

    def register(self, tool: Tool) -> None:
        """Add ``tool``; a name can be registered once."""
        if not isinstance(tool, Tool):
            raise TypeError(f"register a Tool, got {type(tool).__name__}")
        if tool.name in self._tools:
            raise ToolError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool:
        if name not in self._tools:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ToolError(f"no tool named {name!r} (registered: {known})")
        return self._tools[name]

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        return self.get(name)(arguments)

    def functions(self) -> list[dict[str, Any]]:
        """Every tool as a chat model is offered it (``Tool.as_function``), in order."""
        return [tool.as_function() for tool in self._tools.values()]

    def run_annotation(self, body: str) -> str:
        """The result for an annotation body ``<<body=``: a named tool call
        (``name{json}``) or, otherwise, arithmetic for the calculator."""
        call = _CALL.fullmatch(body)
        if call is not None:
            try:
                arguments = json.loads(call.group("arguments"))
            except json.JSONDecodeError as error:
                raise ToolArgumentError(
                    f"tool call {body!r}: arguments are not JSON ({error.msg})"
                ) from None
            return self.call(call.group("name"), arguments)
        return self.call(CALCULATOR.name, {"expression": body})


def _calculate(expression: str) -> str:
    try:
        return format_number(evaluate(expression))
    except CalculationError as error:
        raise ValueError(str(error)) from None


def _convert(value: float, **units: str) -> str:
    from edge_reason.heuristics import format_value
    from edge_reason.heuristics.errors import RuleError
    from edge_reason.heuristics.units import convert, require_unit

    try:
        source, target = require_unit(units["from"]), require_unit(units["to"])
        converted = convert(Fraction(str(value)), source, target)
    except RuleError as error:
        raise ValueError(str(error)) from None
    return f"{format_value(converted)} {target.symbol}"


# ---- the schema subset ------------------------------------------------------------------


def _check_schema(schema: Any, where: str, *, top: bool = False) -> None:
    if not isinstance(schema, Mapping):
        raise ToolError(f"{where}: a schema must be a mapping")
    kind = schema.get("type")
    if kind not in _SCHEMA_KEYS:
        raise ToolError(f"{where}: 'type' must be one of {sorted(_SCHEMA_KEYS)}, got {kind!r}")
    if top and kind != "object":
        raise ToolError(f"{where}: the top level must be of type 'object'")
    unknown = sorted(set(schema) - _SCHEMA_KEYS[kind])
    if unknown:
        raise ToolError(f"{where}: unsupported key(s) {', '.join(unknown)} for type {kind!r}")
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise ToolError(f"{where}: 'properties' must be a mapping")
        for name, sub in properties.items():
            _check_schema(sub, f"{where}.{name}")
        required = schema.get("required", [])
        if not isinstance(required, list) or any(r not in properties for r in required):
            raise ToolError(f"{where}: 'required' must list declared properties")
    if kind == "array":
        if "items" not in schema:
            raise ToolError(f"{where}: an array needs 'items'")
        _check_schema(schema["items"], f"{where}[]")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise ToolError(f"{where}: 'enum' must be a list")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as error:
            raise ToolError(f"{where}: 'pattern' is not a regular expression ({error})") from None


def _json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema of the subset in JSON Schema's own words (fresh dicts and lists)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = _json_schema(value)
        elif schema["type"] == "array" and key in _ARRAY_LENGTHS:
            out[_ARRAY_LENGTHS[key]] = value
        else:
            out[key] = list(value) if isinstance(value, list) else value
    return out


_ARRAY_LENGTHS = {"minLength": "minItems", "maxLength": "maxItems"}
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def _check_value(value: Any, schema: Mapping[str, Any], where: str) -> None:
    kind = schema["type"]
    is_bool = isinstance(value, bool)
    if not isinstance(value, _PYTHON_TYPES[kind]) or (is_bool and kind != "boolean"):
        raise ToolArgumentError(f"{where}: expected {kind}, got {json.dumps(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolArgumentError(f"{where}: {json.dumps(value)} is not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ToolArgumentError(f"{where}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ToolArgumentError(f"{where}: {value} is above the maximum {schema['maximum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise ToolArgumentError(f"{where}: shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ToolArgumentError(f"{where}: longer than {schema['maxLength']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise ToolArgumentError(f"{where}: {json.dumps(value)} does not match {schema['pattern']}")
    if kind == "array":
        for i, item in enumerate(value):
            _check_value(item, schema["items"], f"{where}[{i}]")
    if kind == "object":
        properties = schema.get("properties", {})
        extra = sorted(set(value) - set(properties))
        if extra:
            raise ToolArgumentError(f"{where}: unexpected argument(s) {', '.join(extra)}")
        missing = [name for name in schema.get("required", []) if name not in value]
        if missing:
            raise ToolArgumentError(f"{where}: missing argument(s) {', '.join(missing)}")
        for name, item in value.items():
            _check_value(item, properties[name], f"{where}.{name}")


# ---- built-in tools -----------------------------------------------------------------

CALCULATOR = Tool(
    name="calculator",
    description="Exact arithmetic: + - * / // ** and parentheses on integers and decimals",
    function=_calculate,
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                # numbers joined by operators, as arithmetic.evaluate reads them: a chat
                # model's call cannot hold "= 747" or words (measured: SmolLM2-135M wrote
                # both when unconstrained), nor "1.1.1.1..." (it did, in the agent's steps)
                "pattern": _ARITHMETIC,
            }
        },
        "required": ["expression"],
    },
)

UNIT_CONVERTER = Tool(
    name="convert",
    description="Convert a quantity between units (length, mass, time, temperature, ...)",
    function=_convert,
    parameters={
        "type": "object",
        "properties": {
            "value": {"type": "number"},
            "from": {"type": "string", "minLength": 1, "maxLength": 16},
            "to": {"type": "string", "minLength": 1, "maxLength": 16},
        },
        "required": ["value", "from", "to"],
    },
)
