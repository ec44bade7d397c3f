"""Shared fixtures for the recipe tests: the shared data folder and small real samples."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA / "babi").is_dir():
        pytest.fail(f"{DATA}: the shared data folder is missing (CI clones it beside the repo)")
    return DATA


@pytest.fixture(scope="session")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A tokenizer trained on a slice of every training file."""
    from edge_reason.export.recipes.babi_arith.settings import load_settings
    from edge_reason.export.recipes.babi_arith.split import split_data
    from edge_reason.export.recipes.babi_arith.tokenizer import train_tokenizer

    split = split_data(data_root, load_settings(smoke=True).data)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train_tokenizer((s.text for d in split.train for s in d.segments), path)
    return path
