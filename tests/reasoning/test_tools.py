import pytest

from edge_reason.reasoning.errors import ToolArgumentError, ToolError
from edge_reason.reasoning.tools import Tool, ToolRegistry

SCHEMA = {
    "type": "object",
    "properties": {
        "zone": {"type": "string", "enum": ["north", "south"]},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 60},
        "valves": {"type": "array", "items": {"type": "integer"}, "maxLength": 3},
        "dry_run": {"type": "boolean"},
    },
    "required": ["zone", "minutes"],
}


def water(zone: str, minutes: int, valves: list[int] = (), dry_run: bool = False) -> dict:
    return {"zone": zone, "minutes": minutes, "valves": list(valves), "dry_run": dry_run}


@pytest.fixture
def registry() -> ToolRegistry:
    tools = ToolRegistry.default()
    tools.register(Tool("water", "Open the irrigation valves of a zone", water, SCHEMA))
    return tools


def test_a_valid_call_runs_the_tool(registry: ToolRegistry) -> None:
    result = registry.call("water", {"zone": "north", "minutes": 5, "valves": [1, 2]})
    assert result == '{"zone": "north", "minutes": 5, "valves": [1, 2], "dry_run": false}'


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"zone": "north"}, "missing argument(s) minutes"),
        ({"zone": "north", "minutes": 5, "flow": 2}, "unexpected argument(s) flow"),
        ({"zone": "east", "minutes": 5}, '"east" is not one of'),
        ({"zone": "north", "minutes": 5.0}, "expected integer, got 5.0"),
        ({"zone": "north", "minutes": True}, "expected integer, got true"),
        ({"zone": "north", "minutes": "5"}, 'expected integer, got "5"'),
        ({"zone": "north", "minutes": 0}, "below the minimum 1"),
        ({"zone": "north", "minutes": 61}, "above the maximum 60"),
        ({"zone": "north", "minutes": 5, "valves": [1, "2"]}, "valves[1]: expected integer"),
        ({"zone": "north", "minutes": 5, "valves": [1, 2, 3, 4]}, "longer than 3"),
        ({"zone": "north", "minutes": 5, "dry_run": 1}, "expected boolean, got 1"),
    ],
)
def test_arguments_are_validated_strictly(
    registry: ToolRegistry, arguments: dict, message: str
) -> None:
    with pytest.raises(ToolArgumentError) as raised:
        registry.call("water", arguments)
    assert message in str(raised.value)
    assert str(raised.value).startswith("tool 'water' arguments")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string"}, "the top level must be of type 'object'"),
        ({"type": "object", "properties": {"a": {"type": "float"}}}, "'type' must be one of"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}},
            "unsupported key(s) format",
        ),
        ({"type": "object", "properties": {}, "required": ["a"]}, "must list declared"),
        ({"type": "object", "properties": {"a": {"type": "array"}}}, "an array needs 'items'"),
        ({"type": "object", "additionalProperties": True}, "unsupported key(s)"),
    ],
)
def test_schemas_outside_the_subset_are_refused(schema: dict, message: str) -> None:
    with pytest.raises(ToolError) as raised:
        Tool("t", "a tool", water, schema)
    assert message in str(raised.value)


def test_tool_declarations_are_checked(registry: ToolRegistry) -> None:
    with pytest.raises(ToolError, match="must be an identifier"):
        Tool("two words", "x", water, {"type": "object"})
    with pytest.raises(ToolError, match="give a description"):
        Tool("t", " ", water, {"type": "object"})
    with pytest.raises(ToolError, match="already registered"):
        registry.register(Tool("water", "again", water, SCHEMA))
    with pytest.raises(ToolError, match="no tool named 'pump'"):
        registry.call("pump", {})


def test_annotations_call_the_calculator_or_a_named_tool(registry: ToolRegistry) -> None:
    assert registry.run_annotation("48/2") == "24"
    assert registry.run_annotation("0.1+0.2") == "0.3"
    assert registry.run_annotation('convert{"value": 5, "from": "km", "to": "m"}') == "5000 m"
    assert registry.run_annotation('convert{"value": 212, "from": "F", "to": "C"}') == "100 C"
    with pytest.raises(ToolError, match="division by zero"):
        registry.run_annotation("1/0")
    with pytest.raises(ToolError, match="cannot convert"):
        registry.run_annotation('convert{"value": 5, "from": "km", "to": "kg"}')
    with pytest.raises(ToolArgumentError, match="not JSON"):
        registry.run_annotation('convert{"value": 5,}')
