from __future__ import annotations

from pathlib import Path

import pytest
from helpers.hf_models import CONFIGS, build_model


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One random-weight model folder per supported architecture."""
    root = tmp_path_factory.mktemp("models")
    return {name: build_model(root / name, name, seed=i) for i, name in enumerate(CONFIGS)}


@pytest.fixture(params=sorted(CONFIGS))
def arch(request: pytest.FixtureRequest) -> str:
    return request.param
