"""Every malformed GGUF file gets a ModelFormatError that names the file and the problem:
no crash, no hang, no silent garbage."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers.gguf_models import GGUF_SHAPES, write_gguf_of_type
from helpers.gguf_rewrite import rewrite
from helpers.hf_models import build_model

from edge_reason import Engine
from edge_reason.errors import ModelFormatError


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gguf_bad")
    hf = build_model(root / "qwen2", "qwen2", seed=1, **GGUF_SHAPES)
    return write_gguf_of_type(hf, root / "good.gguf", "Q8_0")


def load(path: Path) -> Engine:
    return Engine.load(path, threads=1, max_context=32)


def test_the_unmodified_copy_loads(good: Path, tmp_path: Path) -> None:
    assert load(rewrite(good, tmp_path / "copy.gguf")).logits([1, 2, 3]).shape == (3, 320)


@pytest.mark.parametrize("keep", [3, 20, 200, 4000, -1000])
def test_truncated_file(good: Path, tmp_path: Path, keep: int) -> None:
    data = good.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:keep])
    with pytest.raises(ModelFormatError, match=f"{cut}: (not a GGUF|truncated or corrupt)"):
        load(cut)


def test_not_a_gguf_file(tmp_path: Path) -> None:
    other = tmp_path / "model.gguf"
    other.write_text('{"not": "gguf"}')
    with pytest.raises(ModelFormatError, match="not a GGUF file"):
        load(other)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="not a folder or a file"):
        load(fifo)


def test_absurd_counts_in_the_header(tmp_path: Path) -> None:
    """2^62 tensors and metadata entries: refused, never allocated or looped over."""
    path = tmp_path / "huge.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 1 << 62) + b"\0" * 64)
    with pytest.raises(ModelFormatError, match="truncated or corrupt GGUF file"):
        load(path)


def test_unknown_architecture_is_named(good: Path, tmp_path: Path) -> None:
    path = rewrite(good, tmp_path / "mamba.gguf", arch="mamba")
    with pytest.raises(ModelFormatError, match="architecture 'mamba' is not supported"):
        load(path)


def test_unknown_tensor_type_is_named(good: Path, tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "iq.gguf"
    rewrite(good, path)
    # retag one tensor's type code in place as IQ2_XXS (same header size)
    reader = gguf.GGUFReader(path)
    field = next(t for t in reader.tensors if t.name == "blk.0.ffn_up.weight").field
    offset = field.offset + sum(p.nbytes for p in field.parts[:4])
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = struct.pack("<I", int(gguf.GGMLQuantizationType.IQ2_XXS))
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"blk\.0\.ffn_up\.weight.*IQ2_XXS|IQ2_XXS"):
        load(path)


def test_metadata_that_contradicts_the_tensors(good: Path, tmp_path: Path) -> None:
    wrong = rewrite(good, tmp_path / "ffn.gguf", metadata={"qwen2.feed_forward_length": 384})
    with pytest.raises(ModelFormatError, match=r"blk\.0\.ffn_gate\.weight.*shape"):
        load(wrong)
    layers = rewrite(good, tmp_path / "layers.gguf", metadata={"qwen2.block_count": 3})
    with pytest.raises(ModelFormatError, match=r"tensor 'blk\.2\.attn_norm\.weight' is missing"):
        load(layers)
    fewer = rewrite(good, tmp_path / "fewer.gguf", metadata={"qwen2.block_count": 1})
    with pytest.raises(ModelFormatError, match=r"does not use: blk\.1\."):
        load(fewer)


def test_metadata_of_the_wrong_type(good: Path, tmp_path: Path) -> None:
    path = rewrite(good, tmp_path / "str.gguf", metadata={"qwen2.block_count": "two"})
    with pytest.raises(ModelFormatError, match="'qwen2.block_count' must be int"):
        load(path)


def test_missing_and_extra_tensors(good: Path, tmp_path: Path) -> None:
    missing = rewrite(good, tmp_path / "missing.gguf", drop=("blk.1.attn_v.weight",))
    with pytest.raises(ModelFormatError, match=r"'blk\.1\.attn_v\.weight' is missing"):
        load(missing)
    extra = rewrite(good, tmp_path / "extra.gguf", tensors={"blk.0.mystery.weight": np.ones(8)})
    with pytest.raises(ModelFormatError, match=r"does not use: blk\.0\.mystery\.weight"):
        load(extra)


def test_nan_weights_are_refused(good: Path, tmp_path: Path) -> None:
    norm = np.ones(256, dtype=np.float32)
    norm[7] = np.nan
    path = rewrite(good, tmp_path / "nan.gguf", tensors={"blk.1.ffn_norm.weight": norm})
    with pytest.raises(ModelFormatError, match=r"blk\.1\.ffn_norm\.weight.*NaN"):
        load(path)


def test_quant_and_backend_choices(good: Path) -> None:
    with pytest.raises(ValueError, match="quant must be one of"):
        Engine.load(good, quant="int3")
    with pytest.raises(ValueError, match="need a bundle"):
        Engine.load(good, backend="onnxruntime")
