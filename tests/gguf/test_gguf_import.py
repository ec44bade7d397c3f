"""`edge-reason export model.gguf OUT`: the GGUF file as a Hugging Face folder
(checked with transformers against the engine reading the file), and the bundle
made from it (native engine and onnxruntime against the GGUF file)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from edge_reason.export.gguf_import import hf_folder_from_gguf
from helpers.gguf_models import GGUF_SHAPES, write_gguf_of_type
from helpers.hf_models import build_model

from edge_reason import Engine
from edge_reason.bundle import BUNDLE_ARCHITECTURES
from edge_reason.bundle_manifest import MANIFEST_NAME, file_sha256
from edge_reason.chat_template import find_chat_template
from edge_reason.cli import main
from edge_reason.errors import ModelFormatError
from edge_reason.model_config import MODEL_TYPES

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python (it quantizes the Q4_K test file) is not installed"
)

PROMPT = [5, 17, 99, 23, 42, 7, 300, 12, 64, 1, 250, 33]
# (architecture, GGUF type): llama's q/k rows are permuted in the file; Q4_K comes from
# llama.cpp's quantize tool, Q8_0 from the project's writer
CASES = [("llama", "Q4_K"), ("qwen2", "Q8_0"), ("qwen3", "Q4_1")]


@pytest.fixture(scope="module")
def gguf_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gguf_import")
    files = {}
    for i, (arch, type_name) in enumerate(CASES):
        # Llama-3 RoPE scaling travels as a tensor the export refuses (tested below)
        extra = {"rope_scaling": None} if arch == "llama" else {}
        hf = build_model(root / arch, arch, seed=11 + i, **GGUF_SHAPES, **extra)
        files[arch] = write_gguf_of_type(hf, root / f"{arch}-{type_name}.gguf", type_name)
    return files


@pytest.mark.parametrize("arch", [a for a, _ in CASES])
def test_transformers_reads_the_folder_as_the_engine_reads_the_file(gguf_files, arch, tmp_path):
    import transformers

    path = gguf_files[arch]
    origin = hf_folder_from_gguf(path, tmp_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        got = model(torch.tensor([PROMPT])).logits[0].numpy()
    want = Engine.load(path, quant="f32", threads=2, max_context=64).logits(PROMPT)
    assert np.abs(got - want).max() <= 1e-4 * want.std(), (np.abs(got - want).max(), want.std())

    assert origin["source_model"] == path.name
    assert origin["source_model_sha256"] == file_sha256(path)
    type_name = dict(CASES)[arch]
    assert origin["gguf_tensor_types"][type_name] >= 7 * 2  # every matrix of both layers
    # the folder's tokenizer and chat template are the file's
    engine = Engine.load(path, threads=1, max_context=32)
    folder_engine = Engine.load(tmp_path, threads=1, max_context=32)
    text = "Hello world, 12 + 30 = 42."
    assert folder_engine.encode(text) == engine.encode(text)
    assert set(json.loads((tmp_path / "config.json").read_text())["eos_token_id"]) >= set(
        engine.eos_token_ids
    )
    assert find_chat_template(tmp_path) is None or engine.chat_template is not None


@pytest.fixture(scope="module")
def llama_bundle(gguf_files, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bundles") / "llama-int8"
    result = CliRunner().invoke(
        main, ["export", str(gguf_files["llama"]), str(out), "--quant", "int8", "--json"]
    )
    assert result.exit_code == 0, result.output
    # the manifest is one line of stdout; optimum may log lines of its own around it
    lines = result.stdout.splitlines()
    return out, json.loads(next(line for line in lines if line.startswith('{"format"')))


def test_bundle_from_gguf_answers_like_the_file(gguf_files, llama_bundle) -> None:
    out, manifest = llama_bundle
    path = gguf_files["llama"]
    provenance = manifest["provenance"]
    assert provenance["source_model"] == path.name
    assert provenance["source_format"] == "gguf"
    assert provenance["source_model_sha256"] == file_sha256(path)
    assert provenance["gguf_file_type"] == "MOSTLY_Q4_K_M"
    # no --calibration: round-to-nearest measured on the built-in text, and says so
    assert provenance["calibration"]["builtin"] is True
    assert "built-in" in manifest["quality"]["text"]
    assert not list(out.parent.glob(f".{out.name}*")), "a temporary folder was left behind"

    gguf = Engine.load(path, quant="f32", threads=2, max_context=64)
    want = gguf.logits(PROMPT)
    for backend in ("native", "onnxruntime"):
        bundle = Engine.load(out, backend=backend, threads=2, max_context=64)
        got = bundle.logits(PROMPT)
        rel_rms = float(np.sqrt(np.mean((got - want) ** 2) / np.mean(want**2)))
        agree = float((got.argmax(1) == want.argmax(1)).mean())
        print(f"{backend}: relative RMS {rel_rms:.4f}, top-1 agreement {agree:.2f}")
        assert rel_rms < 0.06 and agree >= 0.75
        greedy = bundle.generate(PROMPT, max_new_tokens=12).token_ids
        reference = gguf.generate(PROMPT, max_new_tokens=12).token_ids
        same = sum(a == b for a, b in zip(greedy, reference, strict=False))
        assert same >= len(reference) // 2, (backend, greedy, reference)


def test_bad_inputs_fail_with_one_line(gguf_files, llama_bundle, tmp_path) -> None:
    out, _ = llama_bundle

    def export(source: Path, *extra: str) -> str:
        target = tmp_path / "out"
        result = CliRunner().invoke(
            main, ["export", str(source), str(target), "--quant", "int4", *extra]
        )
        assert result.exit_code != 0
        assert not target.exists() and not list(tmp_path.glob(".out*"))
        return result.output.strip()

    text = tmp_path / "notes.gguf"
    text.write_text("not a model\n")
    assert "not a GGUF file" in export(text)
    assert "gptq" in export(gguf_files["qwen2"], "--method", "gptq")

    unsupported = tmp_path / "phi2.gguf"
    _write_minimal_gguf(unsupported, "phi2")
    assert "architecture 'phi2' is not supported" in export(unsupported)

    llama3 = build_model(tmp_path / "llama3", "llama", **GGUF_SHAPES)  # Llama-3 RoPE scaling
    with_freqs = write_gguf_of_type(llama3, tmp_path / "llama3.gguf", "Q8_0")
    assert "rope_freqs" in export(with_freqs)

    result = CliRunner().invoke(
        main, ["export", str(gguf_files["qwen2"]), str(out), "--quant", "int4"]
    )
    assert result.exit_code != 0 and "not empty" in result.output
    assert (out / MANIFEST_NAME).is_file() and not list(out.parent.glob(f".{out.name}.*"))
    with pytest.raises(ModelFormatError, match="not a GGUF file"):
        hf_folder_from_gguf(text, tmp_path)


def _write_minimal_gguf(path: Path, arch: str) -> None:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_tensor("token_embd.weight", np.zeros((8, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_real_smollm2_folder_matches_the_file(tmp_path) -> None:
    """SmolLM2-135M-Instruct Q4_1 (a Q8_0 embedding, llama's permuted q/k): the folder
    gives transformers the engine's f32 logits, and chat prompts render the same."""
    import transformers
    from helpers.real_models import smollm2_gguf

    path = smollm2_gguf()
    origin = hf_folder_from_gguf(path, tmp_path)
    assert origin["gguf_file_type"] == "MOSTLY_Q4_1"
    gguf = Engine.load(path, quant="f32", threads=2, max_context=64)
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    prompt = gguf.apply_chat_template(messages)
    folder = Engine.load(tmp_path, threads=1, max_context=64)
    assert folder.apply_chat_template(messages) == prompt
    ids = gguf.encode(prompt)
    assert folder.encode(prompt) == ids
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits[0].numpy()
    want = gguf.logits(ids)
    assert np.abs(got - want).max() <= 1e-4 * want.std(), (np.abs(got - want).max(), want.std())


def test_every_bundle_architecture_has_a_model_type() -> None:
    assert set(BUNDLE_ARCHITECTURES) <= set(MODEL_TYPES)
