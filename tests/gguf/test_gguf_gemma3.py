"""A gemma3 GGUF file's metadata as llama.cpp reads it: the forms of the sliding-window
pattern, a file without a window, and what the engine refuses by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.gguf_models import write_gguf_of_type
from helpers.gguf_rewrite import rewrite
from helpers.hf_models import build_model

from edge_reason import Engine
from edge_reason.errors import ModelFormatError
from edge_reason.gguf_config import gguf_model_config
from edge_reason.gguf_file import GgufFile

PATTERN = "gemma3.attention.sliding_window_pattern"
WINDOW = "gemma3.attention.sliding_window"


@pytest.fixture(scope="module")
def gemma3_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gguf_gemma3")
    # every third of 6 layers full; llama.cpp derives the query scale from head_dim (18)
    hf = build_model(root / "hf", "gemma3", seed=5, query_pre_attn_scalar=18)
    return write_gguf_of_type(hf, root / "gemma3.gguf", "F32")


def sliding_layers(path: Path) -> tuple[bool, ...]:
    return gguf_model_config(GgufFile.open(path)).sliding_layers


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, (True, True, False) * 2),  # as written: one bool per layer
        ({PATTERN: 3}, (True, True, False) * 2),  # n: layer i full where i % n == n - 1
        ({PATTERN: 0}, (True,) * 6),  # 0: every layer slides
        ({PATTERN: None}, (True,) * 5 + (False,)),  # absent: llama.cpp's every 6th
        ({WINDOW: None}, (False,) * 6),  # no window: every layer full
    ],
)
def test_sliding_window_pattern_forms(
    gemma3_file: Path, tmp_path: Path, metadata: dict, expected: tuple[bool, ...]
) -> None:
    path = rewrite(gemma3_file, tmp_path / "m.gguf", metadata=metadata)
    assert sliding_layers(path) == expected


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({PATTERN: [True, False]}, rf"'{PATTERN}' must hold one bool per layer \(6\)"),
        (
            {"gemma3.rope.scaling.type": "yarn"},
            r"gemma3\.rope\.scaling\.type 'yarn' is not supported \(supported: none, linear\)",
        ),
        ({"gemma3.final_logit_softcapping": 30.0}, "final_logit_softcapping=30.0"),
    ],
)
def test_what_does_not_map_is_refused_by_name(
    gemma3_file: Path, tmp_path: Path, metadata: dict, message: str
) -> None:
    path = rewrite(gemma3_file, tmp_path / "m.gguf", metadata=metadata)
    with pytest.raises(ModelFormatError, match=f"{path}: .*{message}"):
        Engine.load(path, threads=1, max_context=32)
