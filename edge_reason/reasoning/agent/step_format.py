"""The form of one agent step: a JSON object that calls a tool or gives the final answer.

Each step the model writes is held to a JSON schema built from the registered tools, so even
a 135M model whose chat template knows nothing of tools writes a step that parses::

    {"thought": "...", "tool": "calculator", "arguments": {"expression": "12 * 60 * 3"}}
    {"answer": "2160 litres", "thought": "..."}

The schema is an ``anyOf`` with one branch per tool (its name as a constant, its arguments
by the tool's own schema) and a final-answer branch; a call's thought comes first (the
plan it carries out), an answer's last (the answer rests on the observations, not on a
thought written before them); strings are bounded, so a whole step
has a bounded number of tokens, and the JSON is compact (no free whitespace to ramble in).
A tool's strings are bounded here too (the
calculator allows 500 characters; a small model fills them with "1.1.1.1"). A step that does
not parse anyway (a model run without the constraint, a reply cut by the
time budget) is reported as such, and the loop goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..tools import ToolRegistry

THOUGHT_CHARS = 60
ANSWER_CHARS = 40
ARGUMENT_CHARS = 80  # of a string argument (a tool may allow more: "1.1.1.1..." until cut)
ARGUMENT_ITEMS = 8
# The most tokens a step can take: every character of its strings a token, plus the JSON.
STEP_TOKENS = THOUGHT_CHARS + max(ANSWER_CHARS, 2 * ARGUMENT_CHARS) + 40
# Compact JSON: without it a small model spends its tokens on newlines and indentation.
_COMPACT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


@dataclass(frozen=True)
class ProposedStep:
    """What one reply proposed: a call (``tool`` and ``arguments``), an ``answer``, or
    nothing usable (``error`` says why)."""

    thought: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str | None = None
    error: str | None = None


def step_schema(tools: ToolRegistry, *, answer_only: bool = False) -> dict[str, Any]:
    """The JSON schema of a step: a call of one of ``tools``, or the final answer (only
    the answer with ``answer_only``: the step that must end the run)."""
    thought = {"type": "string", "maxLength": THOUGHT_CHARS}
    branches: list[dict[str, Any]] = []
    for function in [] if answer_only else tools.functions():
        spec = function["function"]
        branches.append(
            _strict(
                {
                    "thought": thought,
                    "tool": {"const": spec["name"]},
                    "arguments": {**_bounded(spec["parameters"]), "additionalProperties": False},
                }
            )
        )
    answer = {"type": "string", "minLength": 1, "maxLength": ANSWER_CHARS}
    branches.append(_strict({"answer": answer, "thought": thought}))
    schema: dict[str, Any] = branches[0] if len(branches) == 1 else {"anyOf": branches}
    return {**schema, "x-guidance": _COMPACT}


def response_format(tools: ToolRegistry, *, answer_only: bool = False) -> dict[str, Any]:
    """``step_schema`` as an ``Engine.chat`` response_format."""
    schema = step_schema(tools, answer_only=answer_only)
    return {"type": "json_schema", "json_schema": {"name": "agent_step", "schema": schema}}


def describe_tools(tools: ToolRegistry) -> str:
    """One line per tool for the system prompt: its name, what it does, its arguments."""
    lines = []
    for function in tools.functions():
        spec = function["function"]
        arguments = ", ".join(
            f'"{name}": {sub.get("type", "value")}'
            for name, sub in spec["parameters"].get("properties", {}).items()
        )
        lines.append(f"- {spec['name']}: {spec['description']}. Arguments: {{{arguments}}}")
    return "\n".join(lines)


def parse_step(text: str) -> ProposedStep:
    """The step ``text`` proposes, or a ProposedStep whose ``error`` says why it is none."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return ProposedStep(error=f"the step is not JSON ({error.msg} at character {error.pos})")
    if not isinstance(data, dict):
        return ProposedStep(error=f"the step is a JSON {type(data).__name__}, not an object")
    thought = data.get("thought", "")
    thought = thought if isinstance(thought, str) else json.dumps(thought)
    if "answer" in data:
        answer = data["answer"]
        text_answer = answer if isinstance(answer, str) else json.dumps(answer)
        if not text_answer.strip():
            return ProposedStep(thought, error="the answer is empty")
        return ProposedStep(thought, answer=text_answer.strip())
    tool = data.get("tool")
    if not isinstance(tool, str) or not tool:
        return ProposedStep(thought, error='the step has neither "tool" nor "answer"')
    arguments = data.get("arguments", {})
    if not isinstance(arguments, dict):
        return ProposedStep(thought, tool, error='"arguments" must be a JSON object')
    return ProposedStep(thought, tool, arguments)


def step_text(step: ProposedStep) -> str:
    """A proposed step as the conversation shows the model its own earlier steps: the call
    or answer, without the thought (measured: SmolLM2-135M copied a wrong thought such as
    "1234 * 5678 = 729056" into its answer over the calculator's observation)."""
    if step.answer is not None:
        return json.dumps({"answer": step.answer}, ensure_ascii=False)
    return json.dumps({"tool": step.tool, "arguments": step.arguments}, ensure_ascii=False)


def _strict(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema with every string and array bounded, so that a step ends."""
    out = dict(schema)
    if schema.get("type") == "string":
        out["maxLength"] = min(schema.get("maxLength", ARGUMENT_CHARS), ARGUMENT_CHARS)
    if schema.get("type") == "array":
        out["maxItems"] = min(schema.get("maxItems", ARGUMENT_ITEMS), ARGUMENT_ITEMS)
        out["items"] = _bounded(schema["items"])
    if "properties" in schema:
        out["properties"] = {name: _bounded(sub) for name, sub in schema["properties"].items()}
    return out
