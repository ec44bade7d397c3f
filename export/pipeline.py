"""`edge-reason export`: a Hugging Face model folder -> a quantized, checksummed bundle.

Steps: check the source; read the calibration text; quantize every matrix
(and, for comparison, round-to-nearest); measure quality on the held-out text;
export the f32 ONNX decoder and swap in the quantized weights; write the
bundle (tokenizer.json, the chat template if the model has one, plus model.tflite
through a caller's hook) and publish it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch
import transformers
from tokenizers import Tokenizer

from ..chat_template import SPECIAL_TOKENS_FILE, TEMPLATE_FILE, find_chat_template
from ..progress import Progress, silent
from .bundle import BundleWriter
from .calibration import DEFAULT_CALIBRATION, load_calibration
from .onnx_export import check_source, export_f32
from .onnx_graph import quantize_graph
from .quality import quality_report
from .quantize import BITS, BLOCK, METHODS, collect_hessians, linear_weights, quantize_model
from .signing import load_private_key
from .tensor_table import tensor_table

TOOLS = ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime")


@dataclass(frozen=True)
class ExportRequest:
    hf_dir: Path
    out_dir: Path
    quant: str
    method: str
    calibration: Path | None  # None: round-to-nearest's quality report uses the built-in text
    block_size: int = BLOCK
    force: bool = False
    sign_key: Path | None = None
    teacher: str | None = None  # the distillation teacher, recorded in provenance
    # what hf_dir was converted from (gguf_import: a GGUF file's name, hash and types),
    # recorded in provenance in place of the folder's
    source: dict[str, Any] | None = None


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for tool in ("edge-reason", *TOOLS):
        try:
            versions[tool] = version(tool)
        except PackageNotFoundError:
            versions[tool] = "not installed"
    return versions


def _folder_sha256(folder: Path) -> str:
    """One hash over the source model's config and weight files (name and content)."""
    digest = hashlib.sha256()
    for path in sorted([folder / "config.json", *folder.glob("*.safetensors")]):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def export_bundle(
    request: ExportRequest,
    *,
    progress: Progress = silent,
    extra_files: Callable[[Path], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Run the export; return the manifest written to OUT_DIR/bundle.json.

    extra_files(bundle_tmp_dir) may write more files into the bundle (the TFLite
    model); what it returns goes into the manifest under "tflite"."""
    r = request
    if r.quant not in BITS:
        raise ValueError(f"--quant must be one of {sorted(BITS)}, got {r.quant!r}")
    if r.method not in METHODS:
        raise ValueError(f"--method must be one of {list(METHODS)}, got {r.method!r}")
    if r.block_size != BLOCK:
        raise ValueError(
            f"--block-size {r.block_size}: the engine's formats use blocks of {BLOCK} only"
        )
    if r.calibration is None and r.method == "gptq":
        raise ValueError("--method gptq calibrates on your text: pass --calibration FILE")
    check_source(r.hf_dir)
    # A bad key, calibration file or chat template fails before the long work.
    chat_template = find_chat_template(r.hf_dir)
    signer = load_private_key(r.sign_key) if r.sign_key is not None else None
    calibration = load_calibration(
        r.calibration or DEFAULT_CALIBRATION, Tokenizer.from_file(str(r.hf_dir / "tokenizer.json"))
    )
    with BundleWriter(r.out_dir, force=r.force) as writer:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            r.hf_dir, dtype=torch.float32, attn_implementation="eager"
        ).eval()
        hessians = None
        if r.method == "gptq":
            with progress("calibrating", len(calibration.calibration)) as step:
                hessians = collect_hessians(model, calibration.calibration, step)
        with progress(f"quantizing ({r.method} {r.quant})", len(linear_weights(model))) as step:
            chosen = quantize_model(model, r.quant, r.method, hessians, step)
        rtn = chosen if r.method == "rtn" else quantize_model(model, r.quant, "rtn")
        with progress("measuring quality", 1) as step:
            quality = quality_report(model, chosen, rtn, calibration.held_out)
            quality["text"] = calibration.description
            step(1)
        with progress("writing ONNX", 1) as step:
            f32_dir = writer.folder / ".f32"
            graph = onnx.load(str(export_f32(r.hf_dir, f32_dir)), load_external_data=True)
            stored = writer.write_onnx(quantize_graph(graph, chosen))
            del graph
            shutil.rmtree(f32_dir)
            step(1)
        writer.add_file("tokenizer.json", r.hf_dir / "tokenizer.json")
        if chat_template is not None:  # as the runtime reads it: edge_reason/chat_template.py
            writer.add_text(TEMPLATE_FILE, chat_template.source)
            tokens = json.dumps(chat_template.special_tokens(), indent=1, ensure_ascii=False)
            writer.add_text(SPECIAL_TOKENS_FILE, tokens + "\n")
        manifest: dict[str, Any] = {
            "architecture": json.loads((r.hf_dir / "config.json").read_text()),
            "quantization": {
                "scheme": r.quant,
                "method": r.method,
                "bits": BITS[r.quant],
                "block_size": BLOCK,
                "symmetric": True,
                "matrices": "MatMulNBits (com.microsoft), lm_head included",
                "embedding": "int8 rows, GatherBlockQuantized (com.microsoft, bits=8)",
            },
            "tensors": tensor_table(model, chosen, stored),
            "provenance": {
                **(
                    r.source
                    or {
                        "source_model_sha256": _folder_sha256(r.hf_dir),
                        "source_model": r.hf_dir.name,
                    }
                ),
                "teacher": r.teacher,
                "calibration": calibration.provenance(),
                "tools": _tool_versions(),
            },
            "quality": quality,
        }
        if extra_files is not None:
            with progress("writing TFLite", 1) as step:
                manifest["tflite"] = extra_files(writer.folder)
                step(1)
        return writer.finish(manifest, signer)
