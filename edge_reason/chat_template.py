"""A model's chat template: Jinja source that turns a list of messages into a prompt.

    >>> template = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}\\n"
    ...                         "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
    >>> template.render([{"role": "user", "content": "Hi"}])
    '<user>Hi\\n<assistant>'

Rendering matches transformers' ``apply_chat_template(..., tokenize=False)`` (4.57): the
same Jinja settings (trim_blocks, lstrip_blocks, loop controls), the same ``tojson``
(no HTML escaping), ``raise_exception`` and ``strftime_now``, and the same variables
(messages, tools, documents, add_generation_prompt, bos_token, eos_token, extra keyword
arguments such as enable_thinking). The template runs in jinja2's immutable sandbox: a
model file cannot reach Python internals or change the messages it is given.

Where a Hugging Face folder keeps its template (transformers' order): chat_template.jinja,
else tokenizer_config.json's "chat_template" (a string, or a list of named templates, of
which "default" is used). The special token strings come from tokenizer_config.json,
else special_tokens_map.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import EdgeReasonError, ModelFormatError
from .regular_file import read_regular

TEMPLATE_FILE = "chat_template.jinja"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
_MAX_FILE_BYTES = 64 << 20
WHERE_TEMPLATES_ARE = f"looked for {TOKENIZER_CONFIG_FILE} 'chat_template', {TEMPLATE_FILE}"


class ChatTemplateError(EdgeReasonError, ValueError):
    """A chat template that does not compile, raises, or tries to leave the sandbox."""


@dataclass(frozen=True)
class ChatTemplate:
    """Jinja source plus the special token strings it may refer to.

    origin: where the source came from, named in errors (a file, a GGUF field).
    """

    source: str
    bos_token: str | None = None
    eos_token: str | None = None
    origin: str = "chat template"

    def special_tokens(self) -> dict[str, str]:
        """The token strings the template sees, as special_tokens_map.json holds them."""
        tokens = {"bos_token": self.bos_token, "eos_token": self.eos_token}
        return {name: text for name, text in tokens.items() if text}

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        **extra: Any,
    ) -> str:
        """The prompt text for `messages`. tools: JSON-schema dicts, as transformers
        passes them (Python functions are not converted: pass their schemas)."""
        check_messages(messages)
        variables = {
            **self.special_tokens(),
            **extra,
            "messages": messages,
            "tools": _tool_schemas(tools),
            "documents": None,
            "add_generation_prompt": add_generation_prompt,
        }
        import jinja2

        template = self._template
        try:
            return template.render(**variables)
        except jinja2.exceptions.SecurityError as e:
            raise ChatTemplateError(f"{self.origin}: refused an unsafe operation ({e})") from None
        except jinja2.exceptions.TemplateError as e:  # raise_exception() lands here too
            raise ChatTemplateError(f"{self.origin} raised an error: {e}") from None
        except Exception as e:  # the template is the model's code: name it, not jinja's frames
            raise ChatTemplateError(f"{self.origin} failed: {type(e).__name__}: {e}") from None

    @cached_property
    def _template(self) -> Any:
        import jinja2

        try:
            return _environment().from_string(self.source)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise ChatTemplateError(
                f"{self.origin}: not a valid Jinja template (line {e.lineno}: {e.message})"
            ) from None


def check_messages(messages: Any) -> None:
    """Raise ValueError naming the first message that is not a dict with a string role
    and a content (a string, a list of parts, or None beside tool_calls)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ValueError(f"messages must be a list of dicts, got {type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty: give at least one message")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"messages[{i}] is a {type(message).__name__}, not a dict")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise ValueError(f"messages[{i}] has no 'role' string (got {role!r})")
        if "content" not in message and "tool_calls" not in message:
            raise ValueError(f"messages[{i}] ({role}) has no 'content'")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise ValueError(
                f"messages[{i}] ({role}): 'content' must be a string or a list of parts, "
                f"got {type(content).__name__}"
            )


def find_chat_template(
    folder: Path, *, read: Callable[[str], bytes | None] | None = None
) -> ChatTemplate | None:
    """The chat template of a Hugging Face folder or a bundle, or None if it has none.

    read: a file's bytes by name, None if there is no such file; by default the
    folder's. A bundle passes its checksummed bytes, so a file dropped in beside them
    (or swapped in since they were verified) is never used.
    """
    read = read or (lambda name: _read_file(folder / name))

    def text(name: str) -> str | None:
        data = read(name)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelFormatError(f"{folder / name}: not UTF-8 text ({e})") from e

    config = _parse_json(text(TOKENIZER_CONFIG_FILE), folder / TOKENIZER_CONFIG_FILE)
    tokens = {**_parse_json(text(SPECIAL_TOKENS_FILE), folder / SPECIAL_TOKENS_FILE), **config}
    bos, eos = (_token_text(tokens, name, folder) for name in ("bos_token", "eos_token"))
    jinja = text(TEMPLATE_FILE)
    if jinja is not None:
        source, origin = jinja, str(folder / TEMPLATE_FILE)
    elif "chat_template" in config:
        origin = f"{folder / TOKENIZER_CONFIG_FILE} 'chat_template'"
        source = _default_template(config["chat_template"], origin)
    else:
        return None
    return ChatTemplate(source, bos_token=bos, eos_token=eos, origin=origin)


def _read_file(path: Path) -> bytes | None:
    return read_regular(path, limit=_MAX_FILE_BYTES) if os.path.lexists(path) else None


def _default_template(value: Any, origin: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        if isinstance(named.get("default"), str):
            return named["default"]
        raise ModelFormatError(
            f"{origin}: a list of templates with no 'default' (names: {sorted(map(str, named))})"
        )
    raise ModelFormatError(f"{origin}: expected a string or a list, got {type(value).__name__}")


def _parse_json(text: str | None, path: Path) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object")
    return data


def _token_text(tokens: dict[str, Any], name: str, folder: Path) -> str | None:
    """A special token as a string: stored as one, or as an AddedToken object."""
    value = tokens.get(name)
    if isinstance(value, dict):
        value = value.get("content")
    if value is not None and not isinstance(value, str):
        raise ModelFormatError(f"{folder}: {name} must be a string, got {value!r}")
    return value


def _tool_schemas(tools: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]] | None:
    if tools is None:
        return None
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ValueError(f"tools must be a list of JSON-schema dicts, got {type(tools).__name__}")
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ValueError(
                f"tools[{i}] is a {type(tool).__name__}: pass its JSON schema as a dict "
                "({'type': 'function', 'function': {'name': ..., 'parameters': ...}})"
            )
    return list(tools)


def _environment() -> Any:
    """transformers' template environment (chat_template_utils._compile_jinja_template)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationBlock(jinja2.ext.Extension):
        """{% generation %}...{% endgeneration %} renders its body: transformers uses the
        block only to mark assistant tokens for training, and templates that have it
        must still compile."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        # jinja's own tojson escapes <, >, & and ' for HTML, which a prompt must not get
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env
