"""A server of the HTTP API in a thread on a free loopback port (tests/serve)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

KEY = "test-key"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


@contextmanager
def serving(engine: Any, **options: Any) -> Iterator[str]:
    """Serve `engine` (options: edge_reason.serve.server's) and yield the base URL."""
    from edge_reason.serve import server

    s = server(engine, host="127.0.0.1", port=0, log_level="warning", **options)
    thread = threading.Thread(target=s.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not s.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = s.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        s.should_exit = True
        thread.join(30)


# A reply that cannot end before max_tokens: the grammar wants 4000 letters (~30 s here).
LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Sing."}],
    "max_tokens": 1000,
    "stream": True,
    "response_format": {"type": "regex", "pattern": "[a-z ]{4000}"},
}
SHORT = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


@contextmanager
def long_stream(base_url: str) -> Iterator[httpx.Response]:
    """A long streamed reply, running once this yields (its first chunk read); leaving
    the block drops the connection mid-stream."""
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", f"{base_url}/v1/chat/completions", json=LONG) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        yield response


def health(base_url: str) -> dict:
    return httpx.get(f"{base_url}/health").json()


def metric(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    return float(re.search(rf"^edge_reason_{name} (\S+)$", text, re.MULTILINE).group(1))


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
