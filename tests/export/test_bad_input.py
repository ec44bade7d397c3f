"""Bad input to the export and to bundle loading: one test each, each error named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from edge_reason.export import bundle as bundle_writer
from edge_reason.export.bundle import OutputFolderError
from edge_reason.export.calibration import CalibrationError
from edge_reason.export.pipeline import ExportRequest, export_bundle

from edge_reason import Engine
from edge_reason.bundle import Bundle, ChecksumError, SignatureError
from edge_reason.cli.export import export as export_command
from edge_reason.cli.export import keygen
from edge_reason.errors import ModelFormatError


def request(hf_dir: Path, out_dir: Path, calibration: Path, **kw) -> ExportRequest:
    return ExportRequest(hf_dir, out_dir, "int8", "rtn", calibration, **kw)


def test_folder_without_config(tmp_path, calibration_file):
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelFormatError, match="no config.json"):
        export_bundle(request(tmp_path / "model", tmp_path / "out", calibration_file))


def test_folder_without_weights(tmp_path, random_model, calibration_file):
    src = tmp_path / "model"
    shutil.copytree(random_model("llama"), src)
    for f in src.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ModelFormatError, match="no \\*.safetensors"):
        export_bundle(request(src, tmp_path / "out", calibration_file))


def test_unsupported_architecture(tmp_path, random_model, calibration_file):
    src = tmp_path / "model"
    shutil.copytree(random_model("llama"), src)
    config = json.loads((src / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="GPT2LMHeadModel.*not supported"):
        export_bundle(request(src, tmp_path / "out", calibration_file))


def test_missing_calibration_file(tmp_path, random_model):
    with pytest.raises(CalibrationError, match="nothing.txt: calibration file not found"):
        export_bundle(request(random_model("llama"), tmp_path / "out", tmp_path / "nothing.txt"))


def test_empty_calibration_file(tmp_path, random_model):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(CalibrationError, match="empty.txt: needs at least 2 non-empty lines"):
        export_bundle(request(random_model("llama"), tmp_path / "out", empty))
    assert not (tmp_path / "out").exists()


def test_non_empty_out_dir_needs_force_and_keeps_foreign_files(
    tmp_path, random_model, calibration_file
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="not empty.*--force"):
        export_bundle(request(random_model("qwen2"), out, calibration_file))
    export_bundle(request(random_model("qwen2"), out, calibration_file, force=True))
    assert (out / "notes.txt").read_text() == "mine"
    Engine.load(out)
    # a foreign file where the bundle writes one is never overwritten, even with --force
    (out / "bundle.json").unlink()
    with pytest.raises(OutputFolderError, match="model.onnx.*no earlier export wrote"):
        export_bundle(request(random_model("qwen2"), out, calibration_file, force=True))
    assert (out / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_interrupted_export_leaves_no_bundle(tmp_path, random_model, calibration_file, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_writer.onnx, "save_model", interrupted)  # after the data file
    with pytest.raises(KeyboardInterrupt):
        export_bundle(request(random_model("llama"), tmp_path / "out", calibration_file))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ModelFormatError):
        Engine.load(tmp_path / "out")


@pytest.fixture
def bundle_copy(tmp_path, random_model, export) -> Path:
    folder = tmp_path / "bundle"
    shutil.copytree(export(random_model("llama"), "int4"), folder)
    return folder


def test_changed_file_is_refused(bundle_copy):
    data = bundle_copy / "model.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="model.onnx.data: sha256 differs"):
        Engine.load(bundle_copy)


def test_scale_beyond_fp16_is_refused(random_model, export, monkeypatch):
    # the engine keeps block scales as fp16: a float32 one that fp16 cannot hold
    # (a bundle not written by this exporter) is an error naming the matrix
    read_weights = Bundle.engine_weights

    def with_huge_scale(self, max_context):
        weights = read_weights(self, max_context)
        wq = weights.tensors["layers"][1]["wq"]
        wq["scales"] = wq["scales"].copy()
        wq["scales"][2, 1] = 1e5
        return weights

    monkeypatch.setattr(Bundle, "engine_weights", with_huge_scale)
    with pytest.raises(
        ValueError, match=r"layers\.1\.wq\.scales: row 2, block 1: scale 100000 does not"
    ):
        Engine.load(export(random_model("llama"), "int4"))


def test_missing_file_is_refused(bundle_copy):
    (bundle_copy / "tokenizer.json").unlink()
    with pytest.raises(ChecksumError, match="tokenizer.json: missing"):
        Engine.load(bundle_copy, backend="onnxruntime")


def test_signatures(tmp_path, random_model, calibration_file):
    runner = CliRunner()
    for name in ("ours", "theirs"):
        assert runner.invoke(keygen, [str(tmp_path / name)]).exit_code == 0
    out = tmp_path / "signed"
    args = [str(random_model("qwen3")), str(out), "--quant", "int8"]
    result = runner.invoke(
        export_command,
        [*args, "--calibration", str(calibration_file), "--sign", str(tmp_path / "ours"), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signature"]["algorithm"] == "ed25519"
    Engine.load(out, trusted_keys=[tmp_path / "ours.pub"])
    # PEM text (a key from a config or a secret store) is a key, not a path
    Engine.load(out, trusted_keys=[(tmp_path / "ours.pub").read_text()])
    with pytest.raises(SignatureError, match="not signed by any of the 1 trusted"):
        Engine.load(out, trusted_keys=[(tmp_path / "theirs.pub").read_text()])
    with pytest.raises(ValueError, match="the PEM text: not a readable PEM public key"):
        Engine.load(out, trusted_keys=["-----BEGIN PUBLIC KEY-----\nnot base64\n"])
    with pytest.raises(SignatureError, match="not signed by any of the 1 trusted"):
        Engine.load(out, trusted_keys=[tmp_path / "theirs.pub"])
    # a signed manifest edited afterwards no longer verifies
    manifest = json.loads((out / "bundle.json").read_text())
    manifest["quality"]["variants"]["rtn"]["top1_agreement"] = 1.0
    (out / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(SignatureError):
        Engine.load(out, trusted_keys=[tmp_path / "ours.pub"])
    del manifest["signature"]
    (out / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(SignatureError, match="not signed"):
        Engine.load(out, trusted_keys=[tmp_path / "ours.pub"])
    Engine.load(out)  # without trusted_keys an unsigned bundle loads


def test_cli_names_the_bad_calibration_file(tmp_path, random_model):
    result = CliRunner().invoke(
        export_command,
        [str(random_model("llama")), str(tmp_path / "out"), "--quant", "int4"]
        + ["--calibration", str(tmp_path / "missing.txt")],
    )
    assert result.exit_code != 0
    assert "missing.txt: calibration file not found" in result.output


# The source is checked before the calibration text is read: any text will do.
@pytest.fixture
def any_text(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("Mary moved to the bathroom.\n")
    return path


def test_gemma3_is_refused_by_name(tmp_path, random_model, any_text):
    with pytest.raises(ModelFormatError, match="export does not support Gemma3ForCausalLM"):
        export_bundle(request(random_model("gemma3"), tmp_path / "out", any_text))


def test_cli_refuses_gemma3_in_one_line(tmp_path, random_model, any_text):
    result = CliRunner().invoke(
        export_command,
        [str(random_model("gemma3")), str(tmp_path / "out"), "--quant", "int8"]
        + ["--calibration", str(any_text)],
    )
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert "export does not support Gemma3ForCausalLM" in line


def test_dynamic_rope_scaling_is_refused(tmp_path, random_model, any_text):
    src = tmp_path / "model"
    shutil.copytree(random_model("llama"), src)
    config = json.loads((src / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "dynamic", "factor": 2.0}
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="rope_scaling type 'dynamic'"):
        export_bundle(request(src, tmp_path / "out", any_text))


def test_cli_rtn_without_calibration_names_the_builtin_text(tmp_path, random_model):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        export_command, [str(random_model("llama")), str(out), "--quant", "int4"]
    )
    assert result.exit_code == 0, result.output
    assert "quality measured on the built-in sample text" in result.output
    # a random model's perplexity is huge: shown to 4 significant digits, not 45 of them
    assert all(len(word) < 12 for word in result.output.split() if word[0].isdigit())
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["provenance"]["calibration"]["builtin"] is True
    assert manifest["quality"]["text"].startswith("the built-in sample text")


def test_cli_gptq_without_calibration_is_one_line(tmp_path, random_model):
    result = CliRunner().invoke(
        export_command,
        [str(random_model("llama")), str(tmp_path / "out"), "--quant", "int4", "--method", "gptq"],
    )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "--method gptq calibrates on your text: pass --calibration FILE" in line
    assert not (tmp_path / "out").exists()
