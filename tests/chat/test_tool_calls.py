"""Tool calls in the model's own format: offered through the template, constrained to each
tool's schema while sampling, parsed back into Generation.tool_calls (random-weight models,
so every call below is the grammar's doing; the real model's round trip is in tests/serve)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers.chat_models import SPECIAL_TOKENS, tokenizer_config
from helpers.hf_models import build_model, train_tokenizer

from edge_reason import Engine
from edge_reason.chat_template import ChatTemplate
from edge_reason.errors import ResponseFormatError
from edge_reason.thinking import ChatPiece
from edge_reason.tool_calls import ToolCallSyntax, check_tools

ROOMS = {"type": "string", "enum": ["kitchen", "hall"]}
THERMOMETER = {
    "type": "function",
    "function": {
        "name": "get_temperature",
        "description": "The temperature in a room",
        "parameters": {
            "type": "object",
            "properties": {
                "room": ROOMS,
                "unit": {"type": "string", "enum": ["C", "F"]},
                "window": {"type": "object", "properties": {"open": {"type": "boolean"}}},
            },
            "required": ["room", "unit"],
        },
    },
}
SWITCH = {
    "type": "function",
    "function": {
        "name": "set_fan",
        "parameters": {
            "type": "object",
            "properties": {"speed": {"type": "integer", "minimum": 0, "maximum": 3}},
            "required": ["speed"],
        },
    },
}
TOOLS = [THERMOMETER, SWITCH]
ASK = [{"role": "user", "content": "How warm is the kitchen?"}]


def _closed(schema: dict) -> dict:
    """The schema as calls must meet it: objects allow only their declared properties."""
    out = {k: _closed(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def _valid(call) -> None:
    tool = {t["function"]["name"]: t for t in TOOLS}[call.name]
    jsonschema.validate(call.arguments, _closed(tool["function"]["parameters"]))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Engine]:
    """style -> engine: hermes tags as text (qwen25_tools), as added tokens (hermes_tokens),
    Llama 3.1 JSON (llama31_tools), a template that shows no tools (smollm2), and a thinking
    model whose generation prompt opens <think> (r1_distill)."""
    root = tmp_path_factory.mktemp("tool-models")
    engines = {}
    for name, style, extra in [
        ("qwen25_tools", "qwen25_tools", ()),
        ("hermes_tokens", "qwen25_tools", ("<tool_call>", "</tool_call>")),
        ("llama31_tools", "llama31_tools", ()),
        ("smollm2", "smollm2", ()),
        ("r1_distill", "r1_distill", ()),
    ]:
        folder = build_model(root / name, "qwen3")
        # thinking tags only where the template thinks: a random model allowed to think
        # may think until the token limit
        tokens = [t for t in SPECIAL_TOKENS if style == "r1_distill" or "think" not in t]
        train_tokenizer(folder / "tokenizer.json", special_tokens=(*tokens, *extra))
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(style)))
        engines[name] = Engine.load(folder, max_context=2048)
    return engines


def test_each_template_is_read_for_its_format(models) -> None:
    syntax = {name: e._chat().tool_syntax for name, e in models.items()}
    assert syntax["qwen25_tools"] == ToolCallSyntax("hermes", False, True, True)
    assert syntax["hermes_tokens"] == ToolCallSyntax("hermes", True, True, True)
    assert syntax["llama31_tools"] == ToolCallSyntax("llama3", False, True, True)
    assert syntax["smollm2"] == ToolCallSyntax("hermes", False, False, False)


@pytest.mark.parametrize("style", ["qwen25_tools", "hermes_tokens", "llama31_tools", "smollm2"])
@pytest.mark.parametrize("choice", ["required", "get_temperature", "set_fan"])
def test_forced_calls_follow_the_schema(models, style, choice) -> None:
    """Sampled at temperature 1 from random weights, every call is still one of the tools
    with arguments valid against its schema (and no property it does not declare)."""
    engine = models[style]
    named = {"type": "function", "function": {"name": choice}}
    tool_choice = "required" if choice == "required" else named
    for seed in range(4):
        reply = engine.chat(
            ASK,
            tools=TOOLS,
            tool_choice=tool_choice,
            max_new_tokens=400,
            temperature=1.0,
            seed=seed,
        )
        assert reply.finish_reason == "tool_calls", (style, seed, reply)
        assert reply.text == "" and reply.tool_calls
        for call in reply.tool_calls:
            _valid(call)
            assert choice == "required" or call.name == choice
            assert call.id.startswith("call_") and len(call.id) == 29


def test_a_named_function_is_called_once(models) -> None:
    """As OpenAI and vLLM give it: one call of the function, even with parallel calls on."""
    named = {"type": "function", "function": {"name": "set_fan"}}
    for style in ("hermes_tokens", "smollm2"):
        for seed in range(4):
            reply = models[style].chat(
                ASK, tools=TOOLS, tool_choice=named, max_new_tokens=400, temperature=1.0, seed=seed
            )
            assert [c.name for c in reply.tool_calls] == ["set_fan"], (style, seed, reply)


def test_one_call_unless_parallel(models) -> None:
    engine = models["hermes_tokens"]
    counts = set()
    for seed in range(6):
        reply = engine.chat(
            ASK,
            tools=TOOLS,
            tool_choice="required",
            parallel_tool_calls=False,
            max_new_tokens=400,
            temperature=1.0,
            seed=seed,
        )
        counts.add(len(reply.tool_calls))
    assert counts == {1}


@pytest.mark.parametrize("style", ["qwen25_tools", "hermes_tokens", "llama31_tools"])
def test_auto_gives_text_or_valid_calls(models, style) -> None:
    for seed in range(4):
        reply = models[style].chat(ASK, tools=TOOLS, max_new_tokens=60, temperature=1.0, seed=seed)
        for call in reply.tool_calls:
            _valid(call)
        if not reply.tool_calls:
            assert "<tool_call>" not in reply.text


def test_none_does_not_ask_a_model_whose_template_shows_no_tools_to_call(models) -> None:
    engine = models["smollm2"]
    plain = engine.chat(ASK, max_new_tokens=6, temperature=0)
    offered = engine.chat(ASK, tools=TOOLS, tool_choice="none", max_new_tokens=6, temperature=0)
    assert offered.token_ids == plain.token_ids and offered.tool_calls == []


def test_none_constrains_nothing(models) -> None:
    engine = models["qwen25_tools"]
    plain = engine.chat(ASK, max_new_tokens=12, temperature=0)
    offered = engine.chat(ASK, tools=TOOLS, tool_choice="none", max_new_tokens=12, temperature=0)
    assert offered.tool_calls == [] and offered.finish_reason == plain.finish_reason
    prompt = engine.apply_chat_template(ASK, tools=TOOLS)
    assert (
        offered.token_ids
        == engine.generate(
            engine._chat().encode(prompt), max_new_tokens=12, temperature=0
        ).token_ids
    )


def test_a_thinking_model_thinks_then_calls(models) -> None:
    """The reply starts inside <think>: the grammar lets the thought run to its closing tag
    (pushed here after a few tokens, as a random model rarely picks it), then a call."""
    engine = models["r1_distill"]
    assert engine.apply_chat_template(ASK).endswith("<think>\n")
    close = engine.tokenizer.token_to_id("</think>")
    for seed in range(3):

        def close_soon(ids, logits, start=[]):  # noqa: B006 (one list per closure: the start)
            start.append(len(ids))
            if len(ids) - start[0] >= 5:
                logits[close] += 30.0

        reply = engine.chat(
            ASK,
            tools=TOOLS,
            tool_choice="required",
            max_new_tokens=400,
            temperature=1.0,
            seed=seed,
            logit_processors=[close_soon],
        )
        assert reply.finish_reason == "tool_calls" and reply.tool_calls, reply
        for call in reply.tool_calls:
            _valid(call)
        assert reply.reasoning and "</think>" not in reply.text


def test_streaming_hides_the_call_markup(models) -> None:
    engine = models["qwen25_tools"]
    args = dict(tools=TOOLS, tool_choice="required", max_new_tokens=400, temperature=1.0, seed=1)
    stream = engine.chat_stream(ASK, **args)
    pieces = list(stream)
    assert not "".join(p.text for p in pieces if p.kind == "answer")
    streamed, whole = stream.generation.tool_calls, engine.chat(ASK, **args).tool_calls
    assert streamed and [c.arguments for c in streamed] == [c.arguments for c in whole]


def test_text_before_a_call_streams_and_the_tag_never_does() -> None:
    syntax = ToolCallSyntax("hermes", False, True, True)
    text = 'Let me look.\n<tool_call>\n{"name": "set_fan", "arguments": {"speed": 2}}\n</tool_call>'
    for size in (1, 2, 3, 7):
        pieces = [ChatPiece(text[i : i + size], "answer") for i in range(0, len(text), size)]
        shown = "".join(p.text for p in syntax.visible_text(iter(pieces)))
        assert shown == "Let me look."
    plain = [ChatPiece("a < b and <tool", "answer"), ChatPiece("s> too", "answer")]
    assert "".join(p.text for p in syntax.visible_text(iter(plain))) == "a < b and <tools> too"


def test_a_llama_answer_starting_with_a_tag_prefix_streams() -> None:
    """ "<" may begin <|python_tag|> or the answer: held back, then shown once it is text."""
    syntax = ToolCallSyntax("llama3", False, True, True)
    pieces = [ChatPiece("<", "answer"), ChatPiece("b>bold</b>", "answer")]
    assert "".join(p.text for p in syntax.visible_text(iter(pieces))) == "<b>bold</b>"
    pieces = [ChatPiece("<|python", "answer"), ChatPiece('_tag|>{"name"', "answer")]
    assert not list(syntax.visible_text(iter(pieces)))


def test_a_call_cut_short_is_dropped_as_the_stream_drops_it() -> None:
    """The token limit cut the first call: the text is what streamed (the text before the
    call), not the call's markup."""
    tools = check_tools(TOOLS)
    hermes = ToolCallSyntax("hermes", False, True, True)
    for reply in ('Sure.\n<tool_call>\n{"name": "set_f', "Sure.\n<tool_call>"):
        pieces = iter([ChatPiece(reply, "answer")])
        shown = "".join(p.text for p in hermes.visible_text(pieces))
        assert hermes.parse(reply, tools) == (shown, []) == ("Sure.", [])
    llama = ToolCallSyntax("llama3", False, True, True)
    for reply in ('{"name": "set_f', '<|python_tag|>{"name": "set_fan", "parameters": {"sp'):
        assert llama.parse(reply, tools) == ("", [])
    whole = '{"name": "unknown", "parameters": {}}'  # complete, but no call: left whole
    assert llama.parse(whole, tools) == (whole, [])


def test_a_reply_cut_in_an_opening_tag_shows_no_tag() -> None:
    """A limit ended the reply inside "<tool_call>" (a tag of several tokens): the tag's
    start is a call's, not text, streamed or not; ended by the model, it is text."""
    tools = check_tools(TOOLS)
    hermes = ToolCallSyntax("hermes", False, False, False)
    for reply, before in [("<tool_c", ""), ("Sure.\n<tool", "Sure."), ("a < b", "a < b")]:
        pieces = [ChatPiece(reply[i : i + 2], "answer") for i in range(0, len(reply), 2)]
        for cut in (True, False):
            shown = "".join(p.text for p in hermes.visible_text(iter(pieces), lambda c=cut: c))
            text, calls = hermes.parse(reply, tools, cut=cut)
            assert shown == text == (before if cut else reply) and calls == []


@pytest.mark.parametrize("choice", ["required", "auto"])
def test_every_token_limit_streams_what_the_reply_holds(models, choice) -> None:
    """Cut anywhere, in a tag or a call: the streamed text is the reply's text, and it
    holds no call markup."""
    engine = models["smollm2"]
    for limit in range(1, 30):
        args = dict(tools=TOOLS, tool_choice=choice, max_new_tokens=limit, temperature=1.0)
        stream = engine.chat_stream(ASK, seed=limit, **args)
        shown = "".join(p.text for p in stream if p.kind == "answer")
        reply = stream.generation
        assert shown == reply.text, (limit, reply)
        if choice == "required":
            assert reply.text == "" and "<tool" not in shown, (limit, reply)


def test_parsing() -> None:
    tools = check_tools(TOOLS)
    hermes = ToolCallSyntax("hermes", False, True, True)
    call = '<tool_call>\n{"name": "set_fan", "arguments": {"speed": 1}}\n</tool_call>'
    text, calls = hermes.parse(f"Sure.\n{call}\n{call}", tools)
    assert text == "Sure." and [c.arguments for c in calls] == [{"speed": 1}] * 2
    assert calls[0].id != calls[1].id
    cut = f'{call}\n<tool_call>\n{{"name": "set_fan", "argum'  # the token limit cut the second
    assert [c.name for c in hermes.parse(cut, tools)[1]] == ["set_fan"]
    for partial in ("<tool_call", "<tool_", "<"):  # cut in the opening tag of the next call
        assert [c.name for c in hermes.parse(f"{call}\n{partial}", tools)[1]] == ["set_fan"]
    for kept in (
        '<tool_call>\n{"name": "unknown", "arguments": {}}\n</tool_call>',
        "<tool_call>\nnot json\n</tool_call>",
        f"{call} and then some text",
        "no call at all",
    ):
        assert hermes.parse(kept, tools) == (kept, [])
    llama = ToolCallSyntax("llama3", False, True, True)
    text, [c] = llama.parse('<|python_tag|>{"name": "set_fan", "parameters": {"speed": 3}}', tools)
    assert text == "" and c.arguments == {"speed": 3}
    assert llama.parse("It is {warm}.", tools) == ("It is {warm}.", [])


def test_a_round_trip_is_rendered_in_the_models_format(models) -> None:
    """A past call and its result: the template renders them where it can; otherwise they
    are written as the hermes blocks the model was told to use."""
    call = {"id": "call_1", "type": "function"}
    call["function"] = {"name": "get_temperature", "arguments": '{"room": "hall", "unit": "C"}'}
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21.5"},
    ]
    for style in ("qwen25_tools", "smollm2"):
        engine = models[style]
        syntax = engine._chat().tool_syntax
        prompt = engine.apply_chat_template(
            syntax.prompt_messages(history, check_tools(TOOLS)),
            tools=TOOLS if syntax.renders_tools else None,
        )
        assert '{"name": "get_temperature", "arguments": {"room": "hall", "unit": "C"}}' in prompt
        assert "<tool_response>\n21.5\n</tool_response>" in prompt
        assert '"name": "set_fan"' in prompt  # the tools are offered either way
        reply = engine.chat(history, tools=TOOLS, max_new_tokens=8, temperature=0)
        assert reply.finish_reason in ("eos", "length", "tool_calls")


def test_an_assistant_message_with_content_parts_and_calls(models) -> None:
    """Content as a list of parts beside tool_calls, the tool's result as parts too: written
    as text for a template that shows no past calls (it raised TypeError)."""
    call = {"id": "call_1", "type": "function"}
    call["function"] = {"name": "set_fan", "arguments": '{"speed": 2}'}
    history = [
        *ASK,
        {"role": "assistant", "content": [{"type": "text", "text": "On."}], "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "ok"}]},
    ]
    engine = models["smollm2"]
    shown = engine._chat().tool_syntax.prompt_messages(history, check_tools(TOOLS))
    assert shown[2]["content"].startswith("On.\n<tool_call>\n")
    assert "<tool_response>\nok\n</tool_response>" in shown[3]["content"]
    reply = engine.chat(history, tools=TOOLS, max_new_tokens=4, temperature=0)
    assert reply.finish_reason in ("eos", "length", "tool_calls")


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"room": {"type": "strin"}}},
        {"type": "object", "properties": {"room": {"type": "string", "pattern": "("}}},
    ],
)
def test_a_tool_schema_that_does_not_compile_is_named(models, parameters) -> None:
    """Not the whole grammar the calls make, nor "response_format": the tool and why."""
    bad = {"type": "function", "function": {"name": "bad_tool", "parameters": parameters}}
    with pytest.raises(ResponseFormatError) as caught:
        models["qwen25_tools"].chat(ASK, tools=[SWITCH, bad], tool_choice="required")
    message = str(caught.value)
    assert message.startswith("tools[1] (bad_tool): its parameters") and "\n" not in message
    assert "strin" in message or "unclosed group" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tools": {"type": "function"}}, "tools must be a list"),
        ({"tools": [lambda: 0]}, r"tools\[0\] is a function"),
        (
            {"tools": [{"type": "function", "function": {"name": "a b"}}]},
            r"tools\[0\]\.function\.name",
        ),
        ({"tools": [THERMOMETER, THERMOMETER]}, "offered twice"),
        (
            {"tools": [{"function": {"name": "f", "parameters": {"type": "array"}}}]},
            "parameters must be a JSON schema of an object",
        ),
        ({"tools": TOOLS, "tool_choice": "always"}, "tool_choice must be one of"),
        ({"tool_choice": "required"}, "'required' needs tools"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "fly"}}},
            "'fly', which is not among the tools",
        ),
        (
            {"tools": TOOLS, "response_format": {"type": "json_object"}},
            "response_format cannot be combined with tools",
        ),
        ({"tools": TOOLS, "thinking_budget": 4}, "cannot be combined with thinking_budget"),
    ],
)
def test_bad_tool_options(models, options, message) -> None:
    engine = models["r1_distill"] if "thinking_budget" in options else models["qwen25_tools"]
    with pytest.raises((ValueError, ResponseFormatError), match=message):
        engine.chat(ASK, max_new_tokens=2, **options)


def test_bad_past_calls(models) -> None:
    engine = models["smollm2"]
    for calls, message in [
        ("call", r"messages\[1\]\.tool_calls must be a list"),
        ([{"function": {"arguments": "{}"}}], r"tool_calls\[0\] needs a 'function' with a 'name'"),
        ([{"function": {"name": "f", "arguments": "{oops"}}], "arguments is not JSON"),
        ([{"function": {"name": "f", "arguments": "[1]"}}], "must be a JSON object"),
    ]:
        history = [*ASK, {"role": "assistant", "content": None, "tool_calls": calls}]
        with pytest.raises(ValueError, match=message):
            engine.chat(history, tools=TOOLS, max_new_tokens=2)


def test_a_template_that_cannot_render_is_treated_as_showing_nothing() -> None:
    template = ChatTemplate("{{ raise_exception('no') }}")
    syntax = ToolCallSyntax.detect(template, [])
    assert not syntax.renders_tools and not syntax.renders_history


def test_model_with_no_template_names_what_is_missing(tmp_path: Path) -> None:
    folder = build_model(tmp_path / "plain", "qwen2")
    with pytest.raises(Exception, match="no chat template"):
        Engine.load(folder).chat(ASK, tools=TOOLS)
