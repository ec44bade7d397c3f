"""Tool calls in the model's own format: tools offered through the chat template, calls
constrained to each tool's schema while sampling, and parsed back out of the reply.

    >>> reply = engine.chat(messages, tools=[{"type": "function", "function": {
    ...     "name": "get_temperature",
    ...     "parameters": {"type": "object", "properties": {"room": {"type": "string"}}}}}])
    >>> reply.tool_calls   # [ToolCall(name='get_temperature', arguments={'room': ...}, id=...)]

How a model writes a call (ToolCallSyntax.detect reads it off the template):
- "hermes": ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``, one block per
  call (Qwen2.5, Qwen3, Hermes, and any template that names <tool_call>);
- "llama3": the reply is one JSON object ``{"name": ..., "parameters": {...}}``, after an
  optional <|python_tag|> (Llama 3.1 to 3.3's JSON tool calling);
- a template that never shows the tools to the model (SmolLM2's) gets them in a system
  message, in the hermes format, and its history's calls and results are written in that
  format too, so the model sees what it is asked to produce.

tool_choice: "auto" (text, or calls), "required" (one call or more), "none" (text only;
nothing is constrained or parsed) or ``{"type": "function", "function": {"name": N}}``
(one call of N, whatever parallel_tool_calls says). Whatever is allowed, each call's
arguments follow its tool's JSON schema: the grammar (llguidance) allows no other tokens.
Calls must come after any text.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .chat_template import ChatTemplate, ChatTemplateError, check_messages
from .errors import ResponseFormatError
from .structured_output import ResponseFormat
from .thinking import ChatPiece, ThinkingTags

TOOL_CHOICES = ("auto", "none", "required")
TOOL_CALL_TAGS = ("<tool_call>", "</tool_call>")
MAX_CALLS = 8  # calls in one reply: a small model may repeat a call until the token limit
_PROBE_TOOL = "edge_reason_probe_tool"
_PROBE_RESULT = "edge-reason probe result"


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, its arguments' JSON schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def schema(self) -> dict[str, Any]:
        """The OpenAI form chat templates render."""
        function = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**function, "parameters": self.parameters}}


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: which tool, with what arguments, under what id."""

    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + secrets.token_hex(12))

    def as_openai(self) -> dict[str, Any]:
        """The OpenAI message form (arguments as a JSON string)."""
        arguments = json.dumps(self.arguments, ensure_ascii=False)
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": arguments},
        }


def check_tools(tools: Any) -> list[Tool]:
    """Tools from OpenAI-style dicts ({"type": "function", "function": {...}}, or the inner
    function dict alone); raises ValueError naming the first one that is malformed."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ValueError(f"tools must be a list of tool dicts, got {type(tools).__name__}")
    checked: list[Tool] = []
    for i, spec in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"{where} is a {type(spec).__name__}: pass its JSON schema as a dict "
                "({'type': 'function', 'function': {'name': ..., 'parameters': ...}})"
            )
        if "function" in spec:
            if spec.get("type", "function") != "function":
                raise ValueError(f"{where}: type must be 'function', got {spec.get('type')!r}")
            spec, where = spec["function"], f"{where}.function"
            if not isinstance(spec, Mapping):
                raise ValueError(f"{where} must be a dict, got {type(spec).__name__}")
        name = spec.get("name")
        if (
            not isinstance(name, str)
            or not name
            or not name.replace("_", "a").replace("-", "a").isalnum()
        ):
            raise ValueError(f"{where}.name must be letters, digits, _ or -, got {name!r}")
        if name in {t.name for t in checked}:
            raise ValueError(f"{where}.name: {name!r} is offered twice")
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}.description must be a string")
        parameters = spec.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            raise ValueError(f"{where}.parameters must be a JSON schema of an object")
        checked.append(Tool(name, description, dict(parameters)))
    return checked


def check_tool_choice(choice: Any, tools: Sequence[Tool]) -> str:
    """ "auto", "none", "required", or the name of the one tool to call."""
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            choices = ", ".join(TOOL_CHOICES)
            raise ValueError(f"tool_choice must be one of {choices} or a function, got {choice!r}")
        if choice == "required" and not tools:
            raise ValueError("tool_choice 'required' needs tools")
        return choice
    function = choice.get("function") if isinstance(choice, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise ValueError(
            'tool_choice must be "auto", "none", "required" or '
            f'{{"type": "function", "function": {{"name": ...}}}}, got {choice!r}'
        )
    if name not in {t.name for t in tools}:
        raise ValueError(f"tool_choice names {name!r}, which is not among the tools")
    return name


@dataclass(frozen=True)
class ToolCallSyntax:
    """How one model writes tool calls, and whether its template shows it tools and past calls.

    special_tags: the hermes tags are added tokens (the model emits each as one token).
    """

    kind: str  # "hermes" | "llama3"
    special_tags: bool
    renders_tools: bool
    renders_history: bool

    @classmethod
    def detect(cls, template: ChatTemplate, added_tokens: Sequence[str]) -> ToolCallSyntax:
        source = template.source
        kind = "llama3" if "<|python_tag|>" in source and "<tool_call>" not in source else "hermes"
        special = set(TOOL_CALL_TAGS) <= set(added_tokens)
        return cls(kind, special, _renders_tools(template), _renders_history(template))

    @property
    def arguments_key(self) -> str:
        return "parameters" if self.kind == "llama3" else "arguments"

    # ---- what the template is given ------------------------------------------------------

    def prompt_messages(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool]
    ) -> list[dict[str, Any]]:
        """The conversation as this template can show it: calls' arguments as dicts (as
        templates expect); where the template shows no tools or past calls, they are
        written into the messages in the hermes format."""
        check_messages(messages)
        out = [_with_argument_dicts(m, i) for i, m in enumerate(messages)]
        if not self.renders_history:
            out = _history_as_text(out)
        if tools and not self.renders_tools:
            listing = "\n".join(json.dumps(t.schema(), ensure_ascii=False) for t in tools)
            offer = (
                "You can call tools. Their JSON schemas are inside <tools></tools>:\n"
                f"<tools>\n{listing}\n</tools>\n"
                "To call a tool, reply with <tool_call>\n"
                '{"name": <tool name>, "arguments": <arguments object>}\n</tool_call>'
            )
            if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
                out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{offer}"}
            else:
                out.insert(0, {"role": "system", "content": offer})
        return out

    # ---- the grammar ---------------------------------------------------------------------

    def response_format(
        self,
        tools: Sequence[Tool],
        choice: str,
        *,
        parallel: bool = True,
        thinking: ThinkingTags | None = None,
        inside_thinking: bool = False,
        added_tokens: frozenset[str] = frozenset(),
    ) -> ResponseFormat:
        """The Lark grammar a reply must follow: text or calls as `choice` allows (one
        call only unless `parallel`), each call's arguments by its tool's schema, after
        the model's thinking if it has tags. added_tokens: the tokenizer's, which the
        grammar names as tokens (the model cannot spell them in text)."""
        offered = [t for t in tools if choice in TOOL_CHOICES or t.name == choice]
        # a named function is one call of it, as OpenAI and vLLM give it (a small model
        # would repeat the call up to MAX_CALLS)
        parallel = parallel and choice in TOOL_CHOICES
        # JSON written as templates write it (json.dumps' separators), not with free spacing
        compact = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
        calls_schema = {"anyOf": [self._call_schema(t) for t in offered], "x-guidance": compact}
        call = "%json " + json.dumps(calls_schema)
        if self.kind == "llama3":
            tag = "<|python_tag|>"
            opening = f"{_literal(tag, added_tokens)}? " if tag in added_tokens else ""
            calls, text = f"{opening}{call}", "/[^{ \\n](.|\\n)*/"
        elif self.special_tags:
            one = f'<tool_call> "\\n" {call} "\\n" </tool_call>'
            more = f" (SPACE? {one}){{0,{MAX_CALLS - 1}}}" if parallel else ""
            calls, text = f"SPACE? {one}{more} SPACE?", _text_without("<tool_call>")
        else:
            body = f'{call} "\\n</tool_call>"'
            then = '"\\n"?'
            if parallel:
                then = f'("\\n<tool_call>\\n" {body}){{0,{MAX_CALLS - 1}}} {then}'
            if choice == "auto":  # text, then calls: the text ends at the first opening tag
                calls = f"text_then_call {body} {then}"
            else:
                calls = f'SPACE? "<tool_call>\\n" {body} {then}'
            text = _text_without("<tool_call>")
        lines = [
            f"start: {'thinking ' if inside_thinking else 'thinking? ' if thinking else ''}reply",
            f"reply: TEXT | {'TEXT? ' if self.special_tags and self.kind == 'hermes' else ''}calls"
            if choice == "auto"
            else "reply: calls",
            f"calls: {calls}",
            "SPACE: /[ \\n]{1,3}/",
        ]
        if choice == "auto":
            lines.append(f"TEXT: {text}")
            if self.kind == "hermes" and not self.special_tags:
                lines.append("text_then_call[lazy]: /(.|\\n)*<tool_call>\\n/")
        if thinking is not None:
            lines.extend(_thinking_rules(thinking, inside_thinking, added_tokens))
        try:
            return ResponseFormat.parse({"type": "grammar", "grammar": "\n".join(lines)})
        except ResponseFormatError:
            _check_parameters(tools)  # name the tool whose schema is at fault
            raise

    def _call_schema(self, tool: Tool) -> dict[str, Any]:
        arguments = _closed_objects(tool.parameters)
        return {
            "type": "object",
            "properties": {"name": {"const": tool.name}, self.arguments_key: arguments},
            "required": ["name", self.arguments_key],
            "additionalProperties": False,
        }

    # ---- reading the reply -----------------------------------------------------------------

    def parse(
        self, text: str, tools: Sequence[Tool], *, cut: bool = False
    ) -> tuple[str, list[ToolCall]]:
        """The reply's text before its calls, and the calls. A block that is not a call of
        an offered tool (not JSON, an unknown name) leaves the text whole; a last call cut
        short (by the token limit) is dropped, as the stream never showed it. ``cut``: the
        token limit or the time limit ended the reply (so a tag it ends in was a call's)."""
        if cut:
            text = self._without_cut_tag(text)
        names = {t.name for t in tools}
        if self.kind == "llama3":
            body = text.strip().removeprefix("<|python_tag|>").strip()
            if not body.startswith("{"):
                return text, []
            call = self._read_call(body, names)
            if call is not None:
                return "", [call]
            # the grammar starts no text with "{" and writes only JSON after one: JSON that
            # does not parse is a call cut short (JSON that does is no call: left whole)
            return ("", []) if _not_json(body) else (text, [])
        at = text.find("<tool_call>")
        if at < 0:
            return text, []
        calls: list[ToolCall] = []
        rest = text[at:]
        while rest.startswith("<tool_call>"):
            inner, close, after = rest[len("<tool_call>") :].partition("</tool_call>")
            call = self._read_call(inner.strip(), names) if close else None
            if call is None:
                break
            calls.append(call)
            rest = after.lstrip(" \n")
        # cut in a call's body, or in its opening tag ("<tool_call" at the token limit)
        opened = rest.startswith("<tool_call>") or "<tool_call>".startswith(rest.rstrip())
        cut_short = opened and "</tool_call>" not in rest
        if rest.strip() and not cut_short:  # text after the calls that is not a call
            return text, []
        return text[:at].rstrip("\n"), calls

    def _read_call(self, body: str, names: set[str]) -> ToolCall | None:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("name") not in names:
            return None
        arguments = data.get(self.arguments_key, data.get("arguments", {}))
        return ToolCall(data["name"], arguments) if isinstance(arguments, dict) else None

    def visible_text(
        self, pieces: Iterator[ChatPiece], cut: Callable[[], bool] = lambda: False
    ) -> Iterator[ChatPiece]:
        """Answer pieces up to where a call starts (calls are given whole, once parsed);
        reasoning pieces pass unchanged. ``cut``, asked once the pieces end: whether a
        limit ended the reply, so that text held back as a call's opening tag was one."""
        held = ""
        hiding = False
        for piece in pieces:
            if piece.kind != "answer":
                yield piece
                continue
            if hiding:
                continue
            held += piece.text
            shown, held, hiding = self._split_visible(held)
            if shown:
                yield ChatPiece(shown, "answer")
        if held and not hiding and cut():
            held = self._without_cut_tag(held)
        if held and not hiding:
            yield ChatPiece(held, "answer")

    def _without_cut_tag(self, text: str) -> str:
        """``text`` less the start of an opening tag it ends in (and the newlines before
        it): what a reply cut by a limit there began was a call, not text."""
        if self.kind == "llama3":
            tag = "<|python_tag|>"
            return "" if text.strip() and tag.startswith(text.strip()) else text
        tag = "<tool_call>"
        keep = next((n for n in range(len(tag) - 1, 0, -1) if text.endswith(tag[:n])), 0)
        return text[: len(text) - keep].rstrip("\n") if keep else text

    def _split_visible(self, text: str) -> tuple[str, str, bool]:
        """(text to show now, text to hold back, whether a call has started)."""
        if self.kind == "llama3":
            start = text.lstrip()
            if not start:
                return "", text, False
            if start.startswith(("{", "<|python_tag|>")):
                return "", text, True
            if "<|python_tag|>".startswith(start):  # "<" may begin the tag or the text
                return "", text, False
            return text, "", False
        tag = "<tool_call>"
        at = text.find(tag)
        if at >= 0:
            return text[:at].rstrip("\n"), "", True
        keep = next((n for n in range(len(tag) - 1, 0, -1) if text.endswith(tag[:n])), 0)
        # a newline before a call is the call's: hold trailing newlines back too
        cut = len(text) - keep
        while cut > 0 and text[cut - 1] == "\n":
            cut -= 1
        return text[:cut], text[cut:], False


def _check_parameters(tools: Sequence[Tool]) -> None:
    """ResponseFormatError naming the first tool whose parameters do not compile."""
    for i, tool in enumerate(tools):
        schema = _closed_objects(tool.parameters)
        try:
            ResponseFormat.parse({"type": "json_schema", "json_schema": {"schema": schema}})
        except ResponseFormatError as e:
            lines = str(e).removeprefix("response_format json_schema does not compile: ")
            # a regex's parse error puts its reason last ("error: unclosed group")
            reason = lines.strip().splitlines()[-1 if "regex parse error" in lines else 0]
            raise ResponseFormatError(
                f"tools[{i}] ({tool.name}): its parameters are not a JSON schema that "
                f"compiles: {reason.removeprefix('error: ')}"
            ) from None


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    return False


def _closed_objects(schema: Any) -> Any:
    """`schema` with additionalProperties false on every object that does not say: a
    call's arguments are what the tool declares (as OpenAI's strict mode has it)."""
    if isinstance(schema, list):
        return [_closed_objects(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _closed_objects(v) for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def _literal(text: str, added_tokens: frozenset[str]) -> str:
    """Text in a Lark grammar: a token reference for an added token, else a string."""
    return text if text in added_tokens else json.dumps(text)


def _text_without(tag: str) -> str:
    """A terminal for any text that does not contain `tag`."""
    return f"/(.|\\n)+/ & ~/(.|\\n)*{_regex_escape(tag)}(.|\\n)*/"


def _thinking_rules(tags: ThinkingTags, inside: bool, added_tokens: frozenset[str]) -> list[str]:
    """The model's thinking: whatever it writes up to the closing tag."""
    if tags.close in added_tokens:
        opening = "" if inside else f"{_literal(tags.open, added_tokens)} "
        return [f"thinking: {opening}THOUGHT? {tags.close}", "THOUGHT: /(.|\\n)+/"]
    opening = "" if inside else _regex_escape(tags.open)
    return [f"thinking[lazy]: /{opening}(.|\\n)*{_regex_escape(tags.close)}/"]


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in r"\.+*?()|[]{}^$/" else c for c in text)


def _with_argument_dicts(message: Mapping[str, Any], i: int) -> dict[str, Any]:
    if not message.get("tool_calls"):
        return dict(message)
    return {**message, "tool_calls": past_calls(message["tool_calls"], f"messages[{i}].tool_calls")}


def past_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    """An assistant message's tool_calls with their arguments as dicts (OpenAI clients send
    JSON strings; chat templates write the arguments with tojson); ValueError naming the
    first malformed call."""
    if not isinstance(calls, Sequence) or isinstance(calls, (str, bytes)):
        raise ValueError(f"{where} must be a list")
    fixed = []
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"{where}[{j}] needs a 'function' with a 'name'")
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}[{j}].function.arguments is not JSON: {e}") from None
        if not isinstance(arguments, Mapping):
            raise ValueError(f"{where}[{j}].function.arguments must be a JSON object")
        call_id = str(call.get("id") or f"call_{j}")
        function = {**function, "arguments": dict(arguments)}
        fixed.append({**call, "id": call_id, "type": "function", "function": function})
    return fixed


def _history_as_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Past calls as hermes blocks in the assistant's content, tool results as a user
    message of <tool_response> blocks (consecutive results in one message)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            blocks = [
                "<tool_call>\n"
                + json.dumps(
                    {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                    ensure_ascii=False,
                )
                + "\n</tool_call>"
                for c in message["tool_calls"]
            ]
            content = _content_text(message.get("content"))
            text = "\n".join([content, *blocks] if content else blocks)
            out.append({"role": "assistant", "content": text})
        elif role == "tool":
            block = f"<tool_response>\n{_content_text(message.get('content'))}\n</tool_response>"
            if out and out[-1].get("role") == "user" and out[-1].get("_tool_results"):
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_tool_results": True})
        else:
            out.append(message)
    for message in out:
        message.pop("_tool_results", None)
    return out


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _renders_tools(template: ChatTemplate) -> bool:
    probe = {
        "type": "function",
        "function": {"name": _PROBE_TOOL, "parameters": {"type": "object"}},
    }
    try:
        text = template.render([{"role": "user", "content": "hi"}], tools=[probe])
    except ChatTemplateError:
        return False
    return _PROBE_TOOL in text


def _renders_history(template: ChatTemplate) -> bool:
    call = {"id": "call_0", "type": "function", "function": {"name": _PROBE_TOOL, "arguments": {}}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0", "name": _PROBE_TOOL, "content": _PROBE_RESULT},
    ]
    try:
        text = template.render(messages)
    except ChatTemplateError:
        return False
    return _PROBE_TOOL in text and _PROBE_RESULT in text
