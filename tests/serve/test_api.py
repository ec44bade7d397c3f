"""The OpenAI-compatible API, driven by the official openai client against the real
SmolLM2-135M-Instruct model served on loopback."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
from helpers.serving import KEY, MODEL

openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)

HI = [{"role": "user", "content": "Say hi"}]
THERMOMETER = {
    "type": "function",
    "function": {
        "name": "get_temperature",
        "description": "The temperature in a room, in degrees Celsius",
        "parameters": {
            "type": "object",
            "properties": {"room": {"type": "string", "enum": ["kitchen", "hall", "garage"]}},
            "required": ["room"],
        },
    },
}
KITCHEN = [{"role": "user", "content": "How warm is it in the kitchen?"}]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_models_health_and_metrics(client, base_url) -> None:
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL
    health = httpx.get(f"{base_url}/health").json()  # no key needed: a liveness probe
    assert health["status"] == "ok" and health["model"] == MODEL
    client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2)
    metrics = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    for name in ("requests_total", "queue_waiting", "tokens_per_second", "errors_total"):
        assert f"# TYPE edge_reason_{name} " in metrics
    assert 'edge_reason_requests_total{endpoint="/v1/chat/completions",status="200"}' in metrics


def test_chat(client) -> None:
    r = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=12, temperature=0)
    choice = r.choices[0]
    assert r.object == "chat.completion" and r.model == MODEL
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 12 and r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_stream_is_the_same_text(client) -> None:
    """Streamed with the same seed, the reply is the one given whole; usage comes last."""
    args = dict(model=MODEL, messages=HI, max_tokens=16, temperature=0.9, top_p=0.95, seed=7)
    whole = client.chat.completions.create(**args)
    chunks = list(
        client.chat.completions.create(**args, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and not any(finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_completions(client) -> None:
    args = dict(model=MODEL, prompt="The capital of France is", max_tokens=6, temperature=0)
    r = client.completions.create(**args)
    assert r.object == "text_completion" and "Paris" in r.choices[0].text
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 6
    streamed = "".join(c.choices[0].text for c in client.completions.create(**args, stream=True))
    assert streamed == r.choices[0].text


def test_stop(client) -> None:
    r = client.completions.create(
        model=MODEL, prompt="Count: 1, 2, 3,", max_tokens=20, temperature=0, stop=[" 6"]
    )
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text.rstrip(",").endswith("5") and " 6" not in r.choices[0].text


def test_json_schema_response_format(client) -> None:
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a person as JSON."}],
        max_tokens=64,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}},
    )
    assert r.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(r.choices[0].message.content), PERSON)


@pytest.mark.parametrize(
    ("args", "status", "param"),
    [
        ({"model": "gpt-4o"}, 404, "model"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 3}}}},
            400,
            "response_format",
        ),
        ({"tools": [{"type": "function", "function": {"name": "f g"}}]}, 400, "tools"),
        ({"tools": [THERMOMETER], "tool_choice": "sometimes"}, 400, "tool_choice"),
        ({"tool_choice": "required"}, 400, "tool_choice"),
        (
            {
                "tools": [THERMOMETER],
                "tool_choice": {"type": "function", "function": {"name": "x"}},
            },
            400,
            "tool_choice",
        ),
        (
            {"tools": [THERMOMETER], "response_format": {"type": "json_object"}},
            400,
            "response_format",
        ),
        ({"functions": [{"name": "f"}]}, 400, "functions"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 3}}]}]},
            400,
            "messages[0].tool_calls",
        ),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"temperature": -1}, 400, "temperature"),
        ({"n": 2}, 400, "n"),
        ({"messages": []}, 400, "messages"),
        ({"max_tokens": 100_000}, 400, None),  # more than the context holds: said by the engine
    ],
)
def test_bad_requests(client, args, status, param) -> None:
    call = {"model": MODEL, "messages": HI, "max_tokens": 4, **args}
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(**call)
    e = caught.value
    assert e.status_code == status
    assert set(e.body) == {"message", "type", "param", "code"} and e.body["message"]
    assert e.body["param"] == param


def test_tools_are_refused_on_completions_and_a_bad_tool_schema_is_named(client) -> None:
    """/v1/completions has no chat template to offer tools: refused, not ignored. A tool
    whose parameters do not compile is named, not dumped as the calls' whole grammar."""
    for args in ({"tools": [THERMOMETER]}, {"tool_choice": "required"}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, extra_body=args)
        assert caught.value.body["param"] == next(iter(args))
        assert "/v1/chat/completions" in caught.value.body["message"]
    bad = {"type": "function", "function": {"name": "bad", "parameters": {"type": "object"}}}
    bad["function"]["parameters"]["properties"] = {"room": {"type": "strin"}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=HI, max_tokens=2, tools=[THERMOMETER, bad], tool_choice="required"
        )
    message = caught.value.body["message"]
    assert message.startswith("tools[1] (bad): ") and "strin" in message and "\n" not in message


def test_bad_bodies(base_url) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{base_url}/v1/chat/completions"
    for body in (b"{not json", b"[1, 2]"):
        r = httpx.post(url, content=body, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(f"{base_url}/v1/nothing", headers=auth)
    assert r.status_code == 404 and "error" in r.json()


def test_api_key(base_url) -> None:
    for key in ("wrong", ""):
        c = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key or "unused", max_retries=0)
        headers = {} if key else {"Authorization": ""}
        with pytest.raises(openai.AuthenticationError) as caught:
            c.with_options(default_headers=headers).chat.completions.create(
                model=MODEL, messages=HI, max_tokens=2
            )
        assert caught.value.status_code == 401
        assert caught.value.body["code"] == "invalid_api_key"
    assert httpx.get(f"{base_url}/v1/models").status_code == 401
    assert httpx.get(f"{base_url}/metrics").status_code == 401


def test_tool_call_round_trip(client) -> None:
    """The model calls the tool (its arguments valid against the tool's schema), is given
    the result in a tool message, and answers from it."""
    r = client.chat.completions.create(
        model=MODEL,
        messages=KITCHEN,
        tools=[THERMOMETER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=64,
        temperature=0,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_temperature"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, THERMOMETER["function"]["parameters"])
    assert arguments == {"room": "kitchen"}
    result = {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 21.5}'}
    follow_up = [*KITCHEN, choice.message.model_dump(exclude_none=True), result]
    answer = client.chat.completions.create(
        model=MODEL, messages=follow_up, tools=[THERMOMETER], max_tokens=40, temperature=0
    )
    assert answer.choices[0].finish_reason == "stop"
    assert not answer.choices[0].message.tool_calls
    assert "21.5" in answer.choices[0].message.content


def test_streamed_tool_call_is_the_whole_one(client) -> None:
    args = dict(
        model=MODEL,
        messages=KITCHEN,
        tools=[THERMOMETER],
        tool_choice={"type": "function", "function": {"name": "get_temperature"}},
        parallel_tool_calls=False,
        max_tokens=64,
        temperature=0,
    )
    whole = client.chat.completions.create(**args).choices[0]
    chunks = [c.choices[0] for c in client.chat.completions.create(**args, stream=True)]
    assert not "".join(c.delta.content or "" for c in chunks)  # no call markup as text
    [delta] = [c.delta.tool_calls for c in chunks if c.delta.tool_calls]
    assert delta[0].index == 0 and delta[0].function.name == "get_temperature"
    assert delta[0].function.arguments == whole.message.tool_calls[0].function.arguments
    assert chunks[-1].finish_reason == "tool_calls"
