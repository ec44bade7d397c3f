"""The fuzz targets: one harness module fuzz_<target>.py each, with its seed corpus in
corpus/<target>/ and the crashes it ever found in crashes/<target>/."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
TARGETS = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ_DIR.glob("fuzz_*.py"))


def corpus_dir(target: str) -> Path:
    return FUZZ_DIR / "corpus" / target


def crashes_dir(target: str) -> Path:
    return FUZZ_DIR / "crashes" / target


def entry_point(target: str) -> Callable[[bytes], None]:
    """The harness's TestOneInput (importing it imports the code under test)."""
    return importlib.import_module(f"fuzz.fuzz_{target}").TestOneInput
