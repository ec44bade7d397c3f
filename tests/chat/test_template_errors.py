"""Where templates come from, and the one-line errors for what is missing or bad."""

from __future__ import annotations

import json

import pytest
from helpers.chat_models import template_source

from edge_reason.chat_template import ChatTemplate, ChatTemplateError, find_chat_template
from edge_reason.errors import ModelFormatError

HELLO = [{"role": "user", "content": "hello"}]


def test_the_sandbox_refuses_python_internals() -> None:
    escape = ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}", origin="evil.jinja")
    with pytest.raises(ChatTemplateError, match=r"^evil.jinja: refused an unsafe operation"):
        escape.render(HELLO)
    mutate = ChatTemplate("{{ messages.append({'role': 'user'}) }}", origin="evil.jinja")
    with pytest.raises(ChatTemplateError, match="unsafe"):
        mutate.render(HELLO)


def test_template_errors_name_the_template() -> None:
    llama = ChatTemplate(template_source("llama3"), origin="models/x/tokenizer_config.json")
    with pytest.raises(ChatTemplateError) as raised:
        llama.render([*HELLO, {"role": "tool", "content": "{}"}])
    assert str(raised.value) == (
        "models/x/tokenizer_config.json raised an error: "
        "Only user and assistant roles follow the system message."
    )
    with pytest.raises(ChatTemplateError, match=r"^t.jinja: not a valid Jinja template \(line 2"):
        ChatTemplate("ok\n{% if %}", origin="t.jinja").render(HELLO)
    with pytest.raises(ChatTemplateError, match=r"^t.jinja failed: TypeError"):
        ChatTemplate("{{ 1 + messages[0].content }}", origin="t.jinja").render(HELLO)


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ("hello", "messages must be a list of dicts, got str"),
        ([], "messages is empty"),
        ([{"role": "user", "content": "a"}, "b"], r"messages\[1\] is a str, not a dict"),
        ([{"content": "a"}], r"messages\[0\] has no 'role' string \(got None\)"),
        ([{"role": "user"}], r"messages\[0\] \(user\) has no 'content'"),
        ([{"role": "user", "content": 3}], r"messages\[0\] \(user\): 'content' must be"),
    ],
)
def test_bad_messages_are_named(messages, message) -> None:
    with pytest.raises(ValueError, match=message):
        ChatTemplate("{{ messages }}").render(messages)


def test_tools_must_be_schemas() -> None:
    def get_weather(city: str) -> str:
        return city

    template = ChatTemplate(template_source("qwen25_tools"))
    with pytest.raises(ValueError, match=r"tools\[0\] is a function: pass its JSON schema"):
        template.render(HELLO, tools=[get_weather])
    with pytest.raises(ValueError, match="tools must be a list of JSON-schema dicts, got dict"):
        template.render(HELLO, tools={"type": "function"})


def test_where_a_folder_keeps_its_template(tmp_path) -> None:
    assert find_chat_template(tmp_path) is None
    config = {"chat_template": "A", "bos_token": {"content": "<s>"}, "eos_token": "</s>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    found = find_chat_template(tmp_path)
    assert (found.source, found.bos_token, found.eos_token) == ("A", "<s>", "</s>")
    assert found.origin == f"{tmp_path / 'tokenizer_config.json'} 'chat_template'"
    # chat_template.jinja wins, as in transformers
    (tmp_path / "chat_template.jinja").write_text("B")
    assert find_chat_template(tmp_path).source == "B"
    listed = {"tokenizer_config.json": (tmp_path / "tokenizer_config.json").read_bytes()}
    assert find_chat_template(tmp_path, read=listed.get).source == "A"
    (tmp_path / "chat_template.jinja").unlink()
    named = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": named}))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<e>"}))
    found = find_chat_template(tmp_path)
    assert (found.source, found.bos_token, found.eos_token) == ("D", None, "<e>")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "tokenizer_config.json: not valid JSON"),
        (
            '{"chat_template": [{"name": "rag", "template": "R"}]}',
            r"no 'default' \(names: \['rag'\]\)",
        ),
        ('{"chat_template": 3}', "expected a string or a list, got int"),
        ('{"chat_template": "x", "eos_token": 5}', "eos_token must be a string, got 5"),
    ],
)
def test_malformed_template_files_are_named(tmp_path, config, message) -> None:
    (tmp_path / "tokenizer_config.json").write_text(config)
    with pytest.raises(ModelFormatError, match=message):
        find_chat_template(tmp_path)
