"""Fixtures for the HTTP service's tests: the real SmolLM2 model, loaded once, served by
uvicorn in a thread on a free loopback port, and the official openai client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from helpers.real_models import smollm2_gguf
from helpers.serving import KEY, serving

pytest.importorskip("starlette", reason="the [serve] extra is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")
openai = pytest.importorskip(
    "openai", reason="the openai client (the [test] extra) is not installed"
)


@pytest.fixture(scope="session")
def engine() -> Any:
    from edge_reason.engine import Engine

    return Engine.load(smollm2_gguf(), threads=2)


@pytest.fixture
def server_for(engine: Any) -> Callable[..., AbstractContextManager[str]]:
    """server_for(**options) -> a context manager yielding the base URL of a fresh server."""
    return lambda **options: serving(engine, **options)


@pytest.fixture(scope="module")
def base_url(engine: Any) -> Iterator[str]:
    """A server with the key KEY and the default queue, shared by a module's tests."""
    with serving(engine, api_key=KEY) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Any:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0, timeout=60)
