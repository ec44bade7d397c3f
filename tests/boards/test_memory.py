from __future__ import annotations

import json
from pathlib import Path

import pytest
from edge_reason.boards.memory import (
    ModelShape,
    kv_cache_bytes,
    largest_context,
    memory_budget,
    weight_bytes,
)
from edge_reason.boards.profiles import load_profile
from helpers.published_configs import TINYLLAMA

from edge_reason.errors import ModelFormatError


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_quantized_weights_include_one_fp16_scale_per_32_values() -> None:
    assert weight_bytes(3200, "int4") == 3200 // 2 + 100 * 2
    assert weight_bytes(3200, "int8") == 3200 + 100 * 2
    with pytest.raises(ValueError, match="unknown quantization 'fp8'"):
        weight_bytes(1, "fp8")


def test_kv_cache_holds_a_key_and_a_value_per_layer_and_position() -> None:
    assert kv_cache_bytes(context=10, layers=3, kv_dim=8, cache="f32") == 2 * 3 * 10 * 8 * 4
    assert kv_cache_bytes(context=10, layers=3, kv_dim=8, cache="f16") == 2 * 3 * 10 * 8 * 2


def test_shape_from_a_hugging_face_config_counts_tinyllama_exactly(tmp_path: Path) -> None:
    shape = ModelShape.from_hf_config(write_config(tmp_path, TINYLLAMA))
    assert shape == ModelShape(params=1_100_048_384, layers=22, kv_dim=256, max_context=2048)
    tied = ModelShape.from_hf_config(
        write_config(tmp_path, TINYLLAMA | {"tie_word_embeddings": True})
    )
    assert shape.params - tied.params == 32000 * 2048


def test_largest_context_leaves_exactly_the_room_the_weights_leave() -> None:
    pi4 = load_profile("raspberry-pi-4")
    context = largest_context(pi4, 1_100_048_384, "int4", 22, 256)
    used = weight_bytes(1_100_048_384, "int4") + kv_cache_bytes(context, 22, 256, pi4.kv_cache)
    assert used <= memory_budget(pi4) < used + kv_cache_bytes(1, 22, 256, pi4.kv_cache)
    assert largest_context(pi4, 10**11, "int4", 22, 256) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no config.json"),
        ("{\n  'hidden_size': 1\n}", r"config.json:2: not valid JSON"),
        (json.dumps(TINYLLAMA | {"hidden_size": 0}), "'hidden_size' must be a positive integer"),
        (json.dumps({k: v for k, v in TINYLLAMA.items() if k != "vocab_size"}), "'vocab_size'"),
    ],
)
def test_a_bad_model_config_says_what_and_where(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(ModelFormatError, match=message):
        ModelShape.from_hf_config(tmp_path)
