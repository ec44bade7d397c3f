"""One engine, many clients: the bounded queue (429), cancellation when a client goes away
(while it streams or while it waits), the time limit, and the command itself. The queue's
tests run one request at a time (max_batch=1); test_batching.py runs several together."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
from helpers.real_models import smollm2_gguf
from helpers.serving import KEY, LONG, SHORT, health, long_stream, metric, wait_for

openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)


def test_disconnect_frees_the_slot(server_for) -> None:
    """A client that drops its stream cancels the generation: the next request starts at
    once, not after the cancelled one's 1000 tokens."""
    with server_for(max_batch=1) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        with long_stream(url):
            assert health(url)["busy"]
        start = time.perf_counter()
        r = client.chat.completions.create(**SHORT)
        latency = time.perf_counter() - start
        assert r.choices[0].message.content
        wait_for(lambda: metric(url, "cancelled_total") == 1)
        rate = metric(url, "tokens_per_second")  # the short one's speed, without a grammar
        long_duration = LONG["max_tokens"] / rate
        assert latency < long_duration / 10, (latency, long_duration)
        assert not health(url)["busy"]


def test_disconnect_while_waiting_leaves_the_queue(server_for) -> None:
    with server_for(max_batch=1) as url, long_stream(url):
        with pytest.raises(httpx.ReadTimeout):  # the client gives up while queued
            httpx.post(f"{url}/v1/chat/completions", json=SHORT, timeout=0.5)
        wait_for(lambda: health(url)["waiting"] == 0)
        assert health(url)["busy"]  # the long one still runs


def test_full_queue_is_answered_429(server_for) -> None:
    with server_for(max_queue=1, max_batch=1) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        waiting: list = []
        with long_stream(url):
            queued = threading.Thread(
                target=lambda: waiting.append(client.chat.completions.create(**SHORT))
            )
            queued.start()
            wait_for(lambda: health(url)["waiting"] == 1)
            refused = httpx.post(f"{url}/v1/chat/completions", json=SHORT)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"]["code"] == "queue_full"
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(**SHORT)
        queued.join(30)
        assert waiting and waiting[0].choices[0].message.content  # the queued one ran


def test_time_limit(server_for) -> None:
    with server_for(time_limit_s=1.0) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        start = time.perf_counter()
        r = client.chat.completions.create(**{**LONG, "stream": False})
        assert time.perf_counter() - start < 5
        assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens < 1000


@pytest.mark.slow  # the command in a fresh interpreter, loading the model: 7-18 s
def test_the_command(tmp_path) -> None:
    """`edge-reason serve` binds loopback, wants its key, answers, stops on SIGINT."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = "from edge_reason.cli import main; main()"
    args = ["serve", str(smollm2_gguf()), "--port", str(port), "--api-key", KEY, "--threads", "1"]
    process = subprocess.Popen(
        # not from the checkout, whose edge_reason/ would shadow the installed package
        [sys.executable, "-c", command, *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert process.poll() is None, process.stderr.read()
            try:
                return httpx.get(f"{url}/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=60)
        assert httpx.get(f"{url}/v1/models").status_code == 401
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        assert client.chat.completions.create(**SHORT).choices[0].message.content
    finally:
        process.send_signal(2)  # SIGINT, as Ctrl-C
        _, err = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in err
    assert process.returncode == 0, err


def test_missing_extra(monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    from edge_reason.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    model = tmp_path / "model.gguf"
    model.write_bytes(b"")
    result = CliRunner().invoke(main, ["serve", str(model)])
    assert result.exit_code == 1
    assert "pip install 'edge-reason[serve]'" in result.output


def test_a_taken_port_is_said_before_the_model_loads(tmp_path) -> None:
    import socket

    from click.testing import CliRunner

    from edge_reason.cli import main

    model = tmp_path / "model.gguf"
    model.write_bytes(b"")  # never read: the port is checked first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(model), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
