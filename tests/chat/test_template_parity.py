"""ChatTemplate renders exactly what transformers' apply_chat_template(tokenize=False) does."""

from __future__ import annotations

import pytest
from helpers.chat_models import STYLES, template_source
from transformers import PreTrainedTokenizerFast

from edge_reason.chat_template import ChatTemplate

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city, with <units> & notes",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "e.g. Zürich"}},
            "required": ["city"],
        },
    },
}
USER_ONLY = [{"role": "user", "content": "Where is Mary?"}]
WITH_SYSTEM = [
    {"role": "system", "content": "  Answer in one word.  "},
    {"role": "user", "content": "Where is Mary? 東京?"},
]
MULTI_TURN = [
    *WITH_SYSTEM,
    {"role": "assistant", "content": "bathroom"},
    {"role": "user", "content": "And John?"},
]
TOOL_TURNS = [
    {"role": "system", "content": "You check the weather."},
    {"role": "user", "content": "Weather in Paris and Oslo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": c}}}
            for c in ("Paris", "Oslo")
        ],
    },
    {"role": "tool", "content": '{"celsius": 21}'},
    {"role": "tool", "content": '{"celsius": 4}'},
]
THOUGHT_BEFORE = [
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
    {"role": "user", "content": "3+3?"},
    {"role": "assistant", "content": "6", "reasoning_content": "add again"},
]
CONVERSATIONS = {"user": USER_ONLY, "system": WITH_SYSTEM, "multi-turn": MULTI_TURN}
# (style, conversation, template keyword arguments) beyond every style x CONVERSATIONS
SPECIFIC = [
    ("qwen25_tools", TOOL_TURNS, {"tools": [WEATHER_TOOL]}),
    ("qwen25_tools", USER_ONLY, {"tools": [WEATHER_TOOL]}),
    ("qwen25_tools", TOOL_TURNS, {}),
    ("qwen3_thinking", THOUGHT_BEFORE, {}),
    ("qwen3_thinking", THOUGHT_BEFORE, {"enable_thinking": False}),
    ("qwen3_thinking", MULTI_TURN, {"enable_thinking": True}),
    ("qwen3_thinking", USER_ONLY, {"enable_thinking": False}),
    ("qwen3_thinking", TOOL_TURNS[:2] + TOOL_TURNS[3:], {}),
    ("r1_distill", THOUGHT_BEFORE, {}),
]
CASES = [
    (style, conversation, {}) for style in STYLES for conversation in CONVERSATIONS.values()
] + SPECIFIC


def transformers_render(style: str, tokenizer_file, messages, add_generation_prompt, **kw) -> str:
    bos, eos = STYLES[style]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        chat_template=template_source(style),
        bos_token=bos,
        eos_token=eos,
    )
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kw
    )


@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize(("style", "messages", "kw"), CASES)
def test_rendering_equals_transformers(
    style, messages, kw, add_generation_prompt, chat_tokenizer_file
) -> None:
    bos, eos = STYLES[style]
    template = ChatTemplate(template_source(style), bos_token=bos, eos_token=eos)
    ours = template.render(messages, add_generation_prompt=add_generation_prompt, **kw)
    theirs = transformers_render(style, chat_tokenizer_file, messages, add_generation_prompt, **kw)
    assert ours == theirs
    assert ours  # every case renders something to compare


def test_the_cases_cover_what_they_claim() -> None:
    source = ChatTemplate(template_source("qwen25_tools"), eos_token="<|im_end|>")
    with_tools = source.render(TOOL_TURNS, tools=[WEATHER_TOOL])
    assert '"description": "e.g. Zürich"' in with_tools  # tojson: no ASCII or HTML escaping
    assert "<units> & notes" in with_tools
    assert with_tools.count("<tool_response>") == 2 and with_tools.count("<|im_start|>user") == 2
    qwen3 = ChatTemplate(template_source("qwen3_thinking"), eos_token="<|im_end|>")
    assert qwen3.render(USER_ONLY, enable_thinking=False).endswith("<think>\n\n</think>\n\n")
    assert "<think>\nadd again\n</think>" in qwen3.render(THOUGHT_BEFORE)
    assert "add them" not in qwen3.render(THOUGHT_BEFORE)  # thoughts of earlier turns go
    llama = ChatTemplate(template_source("llama3"), bos_token="<|begin_of_text|>")
    assert "Today Date: " in llama.render(USER_ONLY)  # strftime_now
