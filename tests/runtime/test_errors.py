"""Bad input gets a Python exception with a clear message, never a crash."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from edge_reason import Engine, ModelFormatError, bundle, bundle_manifest


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def weights_file(folder: Path) -> Path:
    (path,) = folder.glob("*.safetensors")
    return path


def test_missing_safetensors(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    weights_file(folder).unlink()
    with pytest.raises(ModelFormatError, match=r"no \*\.safetensors"):
        Engine.load(folder)


def test_missing_tensor(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["qwen2"], tmp_path / "m")
    path = weights_file(folder)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["model.layers.1.mlp.up_proj.weight_renamed"] = header.pop(
        "model.layers.1.mlp.up_proj.weight"
    )
    blob = json.dumps(header).encode()
    blob += b" " * ((-len(blob)) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data[8 + n :])
    with pytest.raises(ModelFormatError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*missing"):
        Engine.load(folder)


def test_corrupt_header(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    path = weights_file(folder)
    data = bytearray(path.read_bytes())
    data[8:20] = b"#not json!!!"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="header is not valid JSON"):
        Engine.load(folder)


def test_truncated_file(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    path = weights_file(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelFormatError, match=r"truncated"):
        Engine.load(folder)


def test_file_shorter_than_its_header(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    path = weights_file(folder)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFormatError, match=f"{path.name}.*header claims"):
        Engine.load(folder)


def test_weight_too_large_for_fp16_scales(model_dirs, tmp_path) -> None:
    # block scales are fp16: |w| = 1e6 fits int8's (1e6 / 127) but not int4's (1e6 / 8)
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    path = weights_file(folder)
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    entry = json.loads(data[8 : 8 + n])["model.layers.1.mlp.down_proj.weight"]
    assert entry["dtype"] == "F32"
    struct.pack_into("<f", data, 8 + n + entry["data_offsets"][0], 1e6)
    path.write_bytes(bytes(data))
    Engine.load(folder, quant="int8")
    with pytest.raises(
        ModelFormatError, match=r"down_proj\.weight: .*too large for an fp16 block scale"
    ):
        Engine.load(folder, quant="int4")


def test_unknown_architecture(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"GPT2LMHeadModel.*not supported"):
        Engine.load(folder)


def test_unsupported_config_field_is_named(model_dirs, tmp_path) -> None:
    folder = copy_model(model_dirs["llama"], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "longrope", "factor": 4.0}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=r"rope_scaling type 'longrope'"):
        Engine.load(folder)


def test_not_a_model_folder(tmp_path) -> None:
    with pytest.raises(ModelFormatError, match="no config.json"):
        Engine.load(tmp_path)


@pytest.fixture(scope="module")
def engine(model_dirs) -> Engine:
    return Engine.load(model_dirs["qwen3"], quant="int4", threads=2, max_context=64)


def test_token_out_of_range(engine) -> None:
    with pytest.raises(ValueError, match=r"token id 320 at index 1 is outside the vocabulary"):
        engine.logits([1, 320])
    with pytest.raises(ValueError, match=r"token id -1"):
        engine.generate([-1])


def test_empty_prompt(engine) -> None:
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.generate("")
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.logits([])


@pytest.mark.parametrize("n", [0, -3])
def test_max_new_tokens_not_positive(engine, n) -> None:
    with pytest.raises(ValueError, match="max_new_tokens must be a positive integer"):
        engine.generate([1, 2], max_new_tokens=n)


def test_prompt_longer_than_context(engine) -> None:
    with pytest.raises(ValueError, match=r"65 tokens but max_context is 64"):
        engine.logits([1] * 65)
    with pytest.raises(ValueError, match=r"exceeds max_context \(64\)"):
        engine.generate([1] * 60, max_new_tokens=10)
    # Exactly filling the context is fine.
    assert len(engine.generate([1] * 60, max_new_tokens=5).token_ids) <= 5


def test_bad_sampling_arguments(engine) -> None:
    with pytest.raises(ValueError, match="top_p"):
        engine.generate([1], top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        engine.generate([1], temperature=-1.0)
    with pytest.raises(ValueError, match="stop strings"):
        engine.generate([1], stop=[""])


def test_bad_load_arguments(model_dirs) -> None:
    with pytest.raises(ValueError, match="quant must be one of"):
        Engine.load(model_dirs["llama"], quant="int3")
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 256"):
        Engine.load(model_dirs["llama"], threads=0)


def test_bundle_cannot_hold_gemma3(model_dirs, tmp_path) -> None:
    # A well-formed manifest whose architecture no bundle's tensors describe.
    folder = tmp_path / "bundle"
    folder.mkdir()
    files = {}
    for name in (bundle.ONNX_FILE, bundle.DATA_FILE):
        (folder / name).write_bytes(b"x")
        files[name] = {"bytes": 1, "sha256": bundle_manifest.file_sha256(folder / name)}
    manifest = {
        "format": bundle.FORMAT_NAME,
        "version": bundle.FORMAT_VERSION,
        "architecture": json.loads((model_dirs["gemma3"] / "config.json").read_text()),
        "quantization": {"scheme": "int8"},
        "tensors": {},
        "files": files,
    }
    (folder / bundle_manifest.MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(bundle_manifest.BundleError, match="cannot hold Gemma3ForCausalLM"):
        bundle.Bundle.open(folder)
