"""A server of the HTTP API in a thread on a free loopback port (tests/serve)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
