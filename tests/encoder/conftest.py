from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bert_models import build_bert


@pytest.fixture(scope="session")
def bert_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with mean pooling and Normalize, as all-MiniLM-L6-v2 is laid out."""
    return build_bert(tmp_path_factory.mktemp("bert") / "model")
