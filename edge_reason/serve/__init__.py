"""`edge-reason serve`: an OpenAI-compatible HTTP API over one model (docs/serve.md).

    >>> from edge_reason.serve import serve
    >>> serve(engine, host="127.0.0.1", port=8080, api_key="secret", max_queue=8)

It needs the `serve` extra (starlette, uvicorn): `pip install 'edge-reason[serve]'`.
The parts: protocol.py (request bodies, OpenAI-style errors), scheduler.py (the queue and
the generation thread), metrics.py (GET /metrics), app.py (the Starlette endpoints).
Importing this package imports neither starlette nor uvicorn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine

MISSING_EXTRA = "edge-reason serve needs the 'serve' extra: pip install 'edge-reason[serve]'"


def check_dependencies() -> None:
    """Raise ImportError with MISSING_EXTRA when starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{MISSING_EXTRA} ({e})") from e


def model_id(path: str | Path) -> str:
    """The name clients use for the model: its file name without .gguf, or its folder's."""
    p = Path(path)
    return p.name[: -len(".gguf")] if p.name.lower().endswith(".gguf") else p.resolve().name


def server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    **options: Any,
) -> Any:
    """A uvicorn.Server for the app (options: model_id, api_key, max_queue, max_batch,
    time_limit_s);
    run() it, or set should_exit to stop it."""
    check_dependencies()
    import uvicorn

    from .app import create_app

    options.setdefault("model_id", model_id(engine.path))
    config = uvicorn.Config(
        create_app(engine, **options),
        host=host,
        port=port,
        log_level=log_level,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(engine: Engine, **options: Any) -> None:
    """Serve until interrupted (options: as for server)."""
    server(engine, **options).run()
