"""OpenAI request bodies checked and turned into engine calls, and OpenAI-style errors.

Nothing here imports the web framework: a body is a dict, a problem an :class:`ApiError`
carrying the HTTP status and the fields of OpenAI's error body
(``{"error": {"message", "type", "param", "code"}}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..sampling_params import SamplingParams
from ..tool_calls import check_tool_choice, check_tools, past_calls

# max_tokens when a request gives none
DEFAULT_MAX_TOKENS = 512


class ApiError(Exception):
    """An error answered with `status` and an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass(frozen=True)
class Request:
    """A checked request: what to run (chat messages or a prompt) and how."""

    kind: str  # "chat" or "completion"
    stream: bool
    params: SamplingParams
    include_usage: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    prompt: str | list[int] = ""
    chat_options: dict[str, Any] = field(default_factory=dict)  # enable_thinking, ...


# Fields OpenAI defines that this server cannot honour: refused by name rather than ignored.
_UNSUPPORTED = {
    "functions": "functions is OpenAI's deprecated form: pass tools instead",
    "function_call": "function_call is OpenAI's deprecated form: pass tool_choice instead",
    "logprobs": "logprobs are not supported",
    "top_logprobs": "top_logprobs are not supported",
    "echo": "echo is not supported",
    "best_of": "best_of is not supported",
    "suffix": "suffix is not supported",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio is not supported",
    "modalities": "modalities other than text are not supported",
    "prediction": "prediction is not supported",
}
# Values of those fields that mean "off", as clients send them by default.
_OFF = (None, False, 0, [], {}, "none", "auto")


def parse_chat(body: Any, model_id: str) -> Request:
    """A /v1/chat/completions body -> Request; raises ApiError (400, or 404 for a model
    this server does not serve)."""
    body = _common(body, model_id)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list of messages", "messages")
    checked = [_message(m, i) for i, m in enumerate(messages)]
    options: dict[str, Any] = {}
    if "enable_thinking" in body:  # an extension, as llama.cpp's server and vLLM read it
        options["enable_thinking"] = _bool(body, "enable_thinking")
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping) and "enable_thinking" in kwargs:
        options["enable_thinking"] = _bool(kwargs, "enable_thinking")
    if body.get("thinking_budget") is not None:
        options["thinking_budget"] = _int(body, "thinking_budget", low=1)
    params = _params(body)
    options.update(_tool_options(body, params))
    return Request(
        kind="chat",
        stream=_bool(body, "stream"),
        include_usage=_include_usage(body),
        params=params,
        messages=checked,
        chat_options=options,
    )


def parse_completion(body: Any, model_id: str) -> Request:
    """A /v1/completions body -> Request (one prompt: a string or a list of token ids)."""
    body = _common(body, model_id)
    for name in ("tools", "tool_choice", "parallel_tool_calls"):
        if body.get(name) is not None:  # refused, not ignored: a forced call would not come
            raise bad_request(
                f"{name} is for /v1/chat/completions (the chat template offers the tools)",
                name,
                "unsupported_parameter",
            )
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, list):
        if not prompt or not all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            raise bad_request(
                "prompt must be a string or a list of token ids (one prompt per request)",
                "prompt",
            )
    elif not isinstance(prompt, str) or not prompt:
        raise bad_request("prompt must be a non-empty string or a list of token ids", "prompt")
    return Request(
        kind="completion",
        stream=_bool(body, "stream"),
        include_usage=_include_usage(body),
        params=_params(body),
        prompt=prompt,
    )


def _common(body: Any, model_id: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required: GET /v1/models lists it", "model")
    if model != model_id:
        raise ApiError(
            404,
            f"The model '{model}' does not exist: this server serves '{model_id}'",
            param="model",
            code="model_not_found",
        )
    for name, message in _UNSUPPORTED.items():
        if body.get(name) not in _OFF:
            raise bad_request(message, name, "unsupported_parameter")
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("n must be 1: one choice per request", "n", "unsupported_parameter")
    return body


def _tool_options(body: Mapping[str, Any], params: SamplingParams) -> dict[str, Any]:
    """tools, tool_choice and parallel_tool_calls, checked, as chat's keywords."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is None:
        if choice not in (None, "none", "auto"):
            raise bad_request("tool_choice needs tools", "tool_choice")
        return {}
    try:
        offered = check_tools(tools)
    except ValueError as e:
        raise bad_request(str(e), "tools") from e
    try:
        checked = check_tool_choice("auto" if choice is None else choice, offered)
    except ValueError as e:
        raise bad_request(str(e), "tool_choice") from e
    if checked != "none" and params.response_format is not None:
        raise bad_request(
            "response_format cannot be combined with tools (unless tool_choice is 'none')",
            "response_format",
        )
    options: dict[str, Any] = {"tools": list(tools), "tool_choice": choice or "auto"}
    if body.get("parallel_tool_calls") is not None:
        options["parallel_tool_calls"] = _bool(body, "parallel_tool_calls")
    return options


def _message(m: Any, i: int) -> dict[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping):
        raise bad_request(f"{where} must be an object with a role and a content", where)
    role = m.get("role")
    if role not in ("system", "developer", "user", "assistant", "tool"):
        raise bad_request(
            f"{where}.role must be system, developer, user, assistant or tool, got {role!r}",
            f"{where}.role",
        )
    extra: dict[str, Any] = {}
    if role == "tool" and m.get("tool_call_id") is not None:
        if not isinstance(m["tool_call_id"], str):
            raise bad_request(f"{where}.tool_call_id must be a string", f"{where}.tool_call_id")
        extra["tool_call_id"] = m["tool_call_id"]
    if m.get("tool_calls"):
        if role != "assistant":
            raise bad_request(f"{where}: only assistant messages have tool_calls", where)
        try:
            extra["tool_calls"] = past_calls(m["tool_calls"], f"{where}.tool_calls")
        except ValueError as e:
            raise bad_request(str(e), f"{where}.tool_calls") from e
        if m.get("content") is None:
            return {"role": role, "content": None, **extra}
    content = m.get("content")
    if isinstance(content, list):  # content parts: text only
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise bad_request(
                    f"{where}.content[{j}]: only text parts are supported",
                    f"{where}.content",
                )
            texts.append(str(part.get("text", "")))
        content = "".join(texts)
    if not isinstance(content, str):
        raise bad_request(f"{where}.content must be a string", f"{where}.content")
    return {"role": "system" if role == "developer" else role, "content": content, **extra}


def _params(body: Mapping[str, Any]) -> SamplingParams:
    options: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    options["max_new_tokens"] = (
        DEFAULT_MAX_TOKENS if max_tokens is None else _int(body, name, low=1)
    )
    if body.get("temperature") is not None:
        options["temperature"] = _number(body, "temperature", 0.0, 2.0)
    if body.get("top_p") is not None:
        options["top_p"] = _number(body, "top_p", 0.0, 1.0)
        if options["top_p"] == 0:
            raise bad_request("top_p must be in (0, 1]", "top_p")
    if body.get("top_k") is not None:  # extensions, as llama.cpp's server takes them
        options["top_k"] = _int(body, "top_k", low=0)
    if body.get("repetition_penalty") is not None:
        options["repetition_penalty"] = _number(body, "repetition_penalty", 0.0, 10.0)
    if body.get("seed") is not None:
        options["seed"] = _int(body, "seed", low=0)
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise bad_request("stop must be a non-empty string or a list of them", "stop")
        if len(stop) > 4:
            raise bad_request("stop takes at most 4 strings", "stop")
        options["stop"] = stop
    rf = body.get("response_format")
    if rf is not None and not (isinstance(rf, Mapping) and rf.get("type") == "text"):
        options["response_format"] = rf
    try:
        return SamplingParams(**options)
    except ValueError as e:  # ResponseFormatError included: a schema that does not compile
        param = "response_format" if "response_format" in str(e) else None
        raise bad_request(str(e), param) from e


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise bad_request("stream_options must be an object", "stream_options")
    return bool(options.get("include_usage"))


def _bool(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, got {value!r}", name)
    return value


def _int(body: Mapping[str, Any], name: str, *, low: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise bad_request(f"{name} must be an integer >= {low}, got {value!r}", name)
    return value


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float:
    value = body.get(name)
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise bad_request(f"{name} must be a number from {low} to {high}, got {value!r}", name)
    return float(value)
