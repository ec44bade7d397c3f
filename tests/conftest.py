"""Session-wide setup: progress lines from fixtures that build models (helpers.progress)."""

from __future__ import annotations

from helpers import progress


def pytest_configure(config) -> None:
    progress.attach(config)
