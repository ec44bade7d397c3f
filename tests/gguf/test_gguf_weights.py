"""GGUF files of random-weight models, in every tensor type, through the engine.

The reference is transformers loading the same GGUF file (it expands every type to
float with the gguf package and undoes llama.cpp's q/k row order itself), so the
engine's reading of the file is checked against an independent reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.gguf_models import GGUF_SHAPES, GGUF_TYPES, write_gguf_of_type
from helpers.hf_models import build_model

from edge_reason import Engine
from edge_reason.gguf_config import gguf_model_config
from edge_reason.gguf_file import GgufFile
from edge_reason.gguf_weights import load_gguf_weights

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python (it quantizes the K-quant test files) is not installed"
)

ARCHS = ("llama", "qwen2", "qwen3", "gemma3")
# longer than the Gemma 3 test model's sliding window (12)
PROMPT = [5, 17, 99, 23, 42, 7, 300, 12, 64, 1, 250, 33, 8, 140, 71, 2, 96, 215, 44, 19]
# llama.cpp derives Gemma 3's query scale from head_dim; 4 heads of 64 split into K-quant blocks
GEMMA3_GGUF = {"head_dim": 64, "query_pre_attn_scalar": 64}


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gguf_hf")
    overrides = {
        # transformers' GGUF reader ignores the rope_freqs tensor (Llama-3 scaling is
        # checked against the original model instead: test_f32_file_equals_the_original_model)
        # and key_length: it takes Qwen3's default head_dim, 128 (twice hidden / heads)
        "llama": {"rope_scaling": None},
        "qwen3": {"head_dim": 128},
        "gemma3": GEMMA3_GGUF,
    }
    return {
        a: build_model(root / a, a, seed=7 + i, **{**GGUF_SHAPES, **overrides.get(a, {})})
        for i, a in enumerate(ARCHS)
    }


@pytest.fixture(scope="module")
def gguf_files(hf_models, tmp_path_factory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("gguf_files")
    return {
        (a, t): write_gguf_of_type(hf_models[a], root / f"{a}-{t}.gguf", t)
        for a in ARCHS
        for t in GGUF_TYPES
    }


def transformers_logits(path: Path, ids: list[int], config_dir: Path | None = None) -> np.ndarray:
    """config_dir: take the config from this folder instead of the file's metadata."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(config_dir) if config_dir else None
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent,
        gguf_file=path.name,
        config=config,
        torch_dtype=torch.float32,
        attn_implementation="eager",
    ).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize("type_name", GGUF_TYPES)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_tensor_type_matches_transformers(hf_models, gguf_files, arch, type_name) -> None:
    path = gguf_files[arch, type_name]
    # transformers reads Gemma 3's window pattern, local RoPE base and scaling from its
    # defaults, not the file (it still reads the file's weights): the original config stands in
    want = transformers_logits(path, PROMPT, hf_models[arch] if arch == "gemma3" else None)
    # f32: the file's values exactly, so only float summation order differs
    exact = Engine.load(path, quant="f32", threads=2, max_context=64).logits(PROMPT)
    assert np.abs(exact - want).max() <= 1e-4 * want.std(), (np.abs(exact - want).max(), want.std())
    # the default: Q8_0 and Q4_0 kept, the rest requantized to Q8, int8 activations
    engine = Engine.load(path, threads=2, max_context=64)
    got = engine.logits(PROMPT)
    rel_rms = float(np.sqrt(np.mean((got - want) ** 2) / np.mean(want**2)))
    print(f"{arch} {type_name}: {engine.info()['gguf_conversions']} relative RMS {rel_rms:.4f}")
    # int8 activations alone move the logits by ~2% (RMS); requantizing adds Q8's own error
    requantized = any("requantized" in k for k in engine.info()["gguf_conversions"])
    assert rel_rms < (0.05 if requantized else 0.03)
    assert (got.argmax(axis=1) == want.argmax(axis=1)).mean() >= 0.75


@pytest.mark.parametrize("type_name", ["Q8_0", "Q4_0"])
def test_engine_formats_hold_the_files_values_exactly(gguf_files, type_name) -> None:
    """Q8_0 and Q4_0 are the engine's formats up to a repack: no weight changes."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    gf = GgufFile.open(gguf_files["qwen2", type_name])
    config = gguf_model_config(gf)
    weights = load_gguf_weights(gf, config, None, 16)
    expected = {
        "Q8_0": {"Q8_0->q8": 15},
        # the embedding table is Q8, exact too; the tied head keeps Q4 (a second view)
        "Q4_0": {"Q4_0->q4": 15, "Q4_0->q8": 1},
    }
    assert weights.conversions == expected[type_name]
    view = weights.tensors["layers"][1]["w_up"]
    stored = dequantize(gf.tensors["blk.1.ffn_up.weight"].data, GGMLQuantizationType[type_name])
    codes = view["data"].reshape(view["rows"], -1, 32 if view["format"] == "q8" else 16)
    if view["format"] == "q4":
        codes = np.stack([codes & 0x0F, codes >> 4], axis=-1).reshape(view["rows"], -1, 32)
        values = (codes.astype(np.float32) - 8) * view["scales"][:, :, None]
    else:
        values = (codes.astype(np.float32) - 128) * view["scales"][:, :, None]
    np.testing.assert_array_equal(values.reshape(stored.shape), stored)


def test_int4_and_int8_choices(gguf_files) -> None:
    path = gguf_files["llama", "Q6_K"]
    int4 = Engine.load(path, quant="int4", threads=1, max_context=32)
    int8 = Engine.load(path, quant="int8", threads=1, max_context=32)
    assert int4.quant == "int4" and int8.quant == "int8"
    assert int4.info()["weight_bytes_per_token"] < int8.info()["weight_bytes_per_token"]
    assert int4.info()["gguf_conversions"] == {
        "Q6_K->q4 (requantized)": 15,
        "Q6_K->q8 (requantized)": 1,  # the embedding table
    }
    assert Engine.load(gguf_files["llama", "Q4_0"], threads=1, max_context=32).quant == "int4"
    assert Engine.load(gguf_files["llama", "F16"], threads=1, max_context=32).quant == "int8"


@pytest.mark.parametrize(
    ("arch", "overrides"),
    # Llama-3 RoPE scaling; explicit head_dim; Gemma 3 (prompt longer than its window)
    [("llama", {}), ("qwen3", {"head_dim": 48}), ("gemma3", GEMMA3_GGUF)],
)
def test_f32_file_equals_the_original_model(tmp_path: Path, arch: str, overrides: dict) -> None:
    from helpers.hf_models import load_reference

    hf = build_model(tmp_path / arch, arch, seed=3, **{**GGUF_SHAPES, **overrides})
    path = write_gguf_of_type(hf, tmp_path / "model.gguf", "F32")
    assert ("rope_freqs.weight" in GgufFile.open(path).tensors) == (arch == "llama")
    ids = list(range(1, 300, 3))  # past the llama config's original 64 positions
    with torch.no_grad():
        want = load_reference(hf)(torch.tensor([ids])).logits[0].numpy()
    got = Engine.load(path, quant="f32", threads=2, max_context=128).logits(ids)
    assert np.abs(got - want).max() <= 1e-4 * want.std()
