"""Errors a user can act on become one-line command errors (exit code 1), not tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click


@contextmanager
def api_errors() -> Iterator[None]:
    """The API's errors for bad input, and the file system's (a folder that cannot be
    written, a path that is a file), as one line each."""
    from ..errors import EdgeReasonError

    try:
        yield
    except OSError as e:
        # "PATH: Permission denied", not "[Errno 13] Permission denied: 'PATH'"
        where = f"{e.filename}: " if e.filename is not None else ""
        raise click.ClickException(f"{where}{e.strerror or e}") from e
    except (EdgeReasonError, ValueError) as e:
        raise click.ClickException(str(e)) from e


def require_matplotlib() -> None:
    """--plot's check, made before a long run rather than after it: matplotlib (the [bench]
    extra) can be imported."""
    try:
        import matplotlib  # noqa: F401 - imported again where the plot is drawn
    except ImportError as e:
        raise click.ClickException(
            f"--plot needs matplotlib ({e}); install it with: pip install 'edge-reason[bench]'"
        ) from e
