"""Continuous batching in the service: requests run together (a new one joins the running
batch at the next token instead of waiting for it to finish), each reply is the one it
gets alone, and requests beyond --max-batch wait in the queue."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from helpers.serving import LONG, MODEL, health, long_stream, wait_for

openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)

QUESTIONS = [
    "What is the capital of France?",
    "Name three colours.",
    "Write a haiku about rain.",
    "What is 2+2?",
    "Why is the sky blue?",
]


def ask(client, i: int) -> str:
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTIONS[i]}],
        max_tokens=24,
        temperature=0.8,
        seed=100 + i,
    )
    return r.choices[0].message.content


def test_requests_run_together_and_each_gets_its_own_reply(server_for) -> None:
    with server_for(max_batch=4) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        alone = [ask(client, i) for i in range(len(QUESTIONS))]
        together: list[str | None] = [None] * len(QUESTIONS)

        def run(i: int) -> None:
            together[i] = ask(client, i)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(QUESTIONS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert together == alone


def test_a_request_joins_a_running_batch_at_once(server_for) -> None:
    with server_for(max_batch=2) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        with long_stream(url):  # 1000 tokens under a grammar: about half a minute
            start = time.perf_counter()
            assert ask(client, 3)
            assert time.perf_counter() - start < 10  # it did not wait for the long one
            assert health(url)["running"] == 1  # the long one goes on


def test_requests_beyond_the_batch_wait_in_the_queue(server_for) -> None:
    with server_for(max_batch=2, max_queue=4) as url, long_stream(url), long_stream(url):
        wait_for(lambda: health(url)["running"] == 2)
        replies: list[httpx.Response] = []
        queued = threading.Thread(
            target=lambda: replies.append(
                httpx.post(
                    f"{url}/v1/chat/completions",
                    json={**LONG, "stream": False, "max_tokens": 4},
                    timeout=60,
                )
            )
        )
        queued.start()
        wait_for(lambda: health(url)["waiting"] == 1)
    queued.join(60)  # the long ones were dropped: it ran
    assert replies and replies[0].status_code == 200


def test_a_bad_max_batch_is_a_one_line_error(tmp_path) -> None:
    from click.testing import CliRunner

    from edge_reason.cli import main

    model = tmp_path / "model.gguf"
    model.write_bytes(b"")  # never read: the options are checked first
    result = CliRunner().invoke(main, ["serve", str(model), "--max-batch", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--max-batch': 0 is not in the range 1<=x<=64." in result.output
