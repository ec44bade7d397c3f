"""Every seed and every crash the fuzzers ever found, replayed through its harness (no
atheris needed): a fixed crash stays fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS, corpus_dir, crashes_dir, entry_point

INPUTS = [
    pytest.param(target, path, id=f"{target}/{path.parent.name}/{path.name}")
    for target in TARGETS
    for folder in (corpus_dir(target), crashes_dir(target))
    if folder.is_dir()
    for path in sorted(folder.iterdir())
]


@pytest.mark.parametrize(("target", "path"), INPUTS)
def test_input_is_handled(target: str, path: Path) -> None:
    entry_point(target)(path.read_bytes())
