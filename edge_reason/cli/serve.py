"""`edge-reason serve`: an OpenAI-compatible HTTP API over one model (docs/serve.md)."""

from __future__ import annotations

import contextlib
import socket

import click

from .errors import api_errors
from .options import engine_options

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--api-key",
    envvar="EDGE_REASON_API_KEY",
    default=None,
    help="Refuse requests without 'Authorization: Bearer KEY' (env: EDGE_REASON_API_KEY).",
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Requests that may wait while --max-batch run; more are answered 429.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests decoded together, one pass over the weights per token for all of them; "
    "1: one at a time.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds a request may take, waiting included.",
)
@click.option(
    "--model-name", default=None, help="The model's id in the API (default: its file name)."
)
@engine_options
def serve(
    model: str,
    host: str,
    port: int,
    api_key: str | None,
    max_queue: int,
    max_batch: int,
    time_limit: float,
    model_name: str | None,
    quant: str | None,
    threads: int | None,
) -> None:
    """Serve the model at MODEL over an OpenAI-compatible HTTP API.

    POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,
    GET /metrics. Up to --max-batch requests are decoded together (each joins at the next
    token and leaves when done); others wait in a queue of --max-queue.
    """
    # starlette and uvicorn are an optional extra: imported only here
    from ..serve import MISSING_EXTRA, check_dependencies
    from ..serve import serve as run

    try:
        check_dependencies()
    except ImportError as e:
        raise click.ClickException(MISSING_EXTRA) from e
    if host not in LOOPBACK and not api_key:
        click.echo(
            f"warning: serving on {host} without --api-key: anyone who can reach it can use it",
            err=True,
        )
    _check_port_free(host, port)
    from .run import load_engine

    engine = load_engine(model, quant, threads)
    options = {"model_id": model_name} if model_name else {}
    with api_errors(), contextlib.suppress(KeyboardInterrupt):
        # uvicorn shuts down gracefully on Ctrl-C, then raises the signal again: that is the
        # normal way out, not an abort
        run(
            engine,
            host=host,
            port=port,
            api_key=api_key,
            max_queue=max_queue,
            max_batch=max_batch,
            time_limit_s=time_limit,
            **options,
        )


def _check_port_free(host: str, port: int) -> None:
    """Say that the address is taken before spending seconds loading the model for nothing."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as e:
            raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}") from e
