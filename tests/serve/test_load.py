"""Load on loopback: 16 clients x 5 requests, streaming and not, through the queue; every
reply complete, well-formed and the one its request gets alone; a tiny queue answers 429.
Prints p50/p99 latency and aggregate tokens/s (docs/serve.md records a run)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from helpers.serving import MODEL

openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)

CLIENTS, REQUESTS, MAX_TOKENS = 16, 5, 8
PROMPTS = ["Say hi", "Name a fruit.", "What is 2+2?", "Tell me a colour."]


def request(client_index: int, k: int) -> dict:
    """The k-th request of a client: chat for even clients, completions for odd ones;
    streamed every other time; 12 distinct (endpoint, prompt, seed) in all."""
    prompt = PROMPTS[client_index % len(PROMPTS)]
    args = {"model": MODEL, "max_tokens": MAX_TOKENS, "temperature": 0.8, "seed": k % 3}
    if client_index % 2 == 0:
        args["messages"] = [{"role": "user", "content": prompt}]
    else:
        args["prompt"] = f"Q: {prompt}\nA:"
    return args


def call(client, args: dict, stream: bool) -> tuple[str, str, dict]:
    """(text, finish_reason, usage) of one request, its stream checked for well-formedness."""
    create = client.chat.completions.create if "messages" in args else client.completions.create
    if not stream:
        r = create(**args)
        c = r.choices[0]
        u = r.usage
        assert u.total_tokens == u.prompt_tokens + u.completion_tokens
        text = c.message.content if "messages" in args else c.text
        return text, c.finish_reason, u.model_dump()
    chunks = list(create(**args, stream=True, stream_options={"include_usage": True}))
    with_choices = [c for c in chunks if c.choices]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in with_choices]
    assert finishes[-1] in ("stop", "length") and not any(finishes[:-1])
    if "messages" in args:
        assert with_choices[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    else:
        text = "".join(c.choices[0].text for c in with_choices)
    return text, finishes[-1], chunks[-1].usage.model_dump()


def key(args: dict) -> tuple:
    return ("messages" in args, str(args.get("messages", args.get("prompt"))), args["seed"])


@pytest.mark.slow
def test_load(server_for) -> None:
    with server_for(max_queue=CLIENTS * 2) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=300)
        alone = {}  # each distinct request, run alone
        for c in range(CLIENTS):
            for k in range(REQUESTS):
                args = request(c, k)
                if key(args) not in alone:
                    alone[key(args)] = call(client, args, stream=False)

        results: list[tuple[dict, tuple, float]] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(CLIENTS)

        def run(c: int) -> None:
            mine = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=300)
            barrier.wait()
            try:
                for k in range(REQUESTS):
                    args = request(c, k)
                    start = time.perf_counter()
                    got = call(mine, args, stream=(c + k) % 2 == 1)
                    results.append((args, got, time.perf_counter() - start))
            except BaseException as e:  # reported below, with the others'
                errors.append(e)

        threads = [threading.Thread(target=run, args=(c,)) for c in range(CLIENTS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - start
        assert not errors, errors
        assert len(results) == CLIENTS * REQUESTS
        for args, got, _ in results:
            assert got == alone[key(args)], args  # text, finish reason and usage
        latencies = sorted(seconds for *_, seconds in results)
        tokens = sum(got[2]["completion_tokens"] for _, got, _ in results)
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)))]
        print(
            f"\nload: {CLIENTS} clients x {REQUESTS} requests (max_tokens {MAX_TOKENS}, half "
            f"streamed) in {wall:.1f} s: p50 {p50:.2f} s, p99 {p99:.2f} s, "
            f"{tokens / wall:.1f} tokens/s aggregate, {len(results) / wall:.2f} requests/s"
        )
        assert max(latencies) < 300


@pytest.mark.slow
def test_load_with_a_tiny_queue(server_for) -> None:
    """16 clients at once against --max-queue 2: each is answered at once with 429 and
    Retry-After, or later with its whole reply."""
    with server_for(max_queue=2) as url:
        args = request(0, 0)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        expected = call(client, args, stream=False)
        barrier = threading.Barrier(CLIENTS)
        answers: list[httpx.Response] = []

        def run() -> None:
            barrier.wait()
            answers.append(httpx.post(f"{url}/v1/chat/completions", json=args, timeout=120))

        threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        statuses = sorted(r.status_code for r in answers)
        assert len(answers) == CLIENTS and set(statuses) == {200, 429}, statuses
        for r in answers:
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["error"]["code"] == "queue_full"
            else:
                assert r.json()["choices"][0]["message"]["content"] == expected[0]
        print(f"\ntiny queue: {statuses.count(200)} answered, {statuses.count(429)} refused (429)")
