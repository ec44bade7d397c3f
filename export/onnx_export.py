"""The f32 ONNX decoder with a KV cache, exported by optimum-onnx.

The graph has inputs input_ids, attention_mask, position_ids and
past_key_values.<i>.key/value ([batch, kv_heads, past, head_dim]) and outputs
logits and present.<i>.key/value: a "text-generation-with-past" export, which
runs prefill and decode steps alike.
"""

from __future__ import annotations

from pathlib import Path

from ..bundle import BUNDLE_ARCHITECTURES
from ..errors import ModelFormatError
from ..model_config import ModelConfig
from ..rope_scaling import DynamicScaling


def check_source(hf_dir: Path) -> ModelConfig:
    """The model's config, after checking the folder holds what an export needs."""
    if not hf_dir.is_dir():
        raise ModelFormatError(f"{hf_dir}: not a folder (expected a Hugging Face model folder)")
    config = ModelConfig.from_folder(hf_dir)  # names a missing or unsupported field
    if config.architecture not in BUNDLE_ARCHITECTURES:
        raise ModelFormatError(
            f"{hf_dir}: the export does not support {config.architecture} "
            f"(it exports {', '.join(BUNDLE_ARCHITECTURES)}); "
            "the engine runs it from the Hugging Face folder"
        )
    # dynamic's frequencies follow the sequence length; a traced graph does not.
    if isinstance(config.rope_scaling, DynamicScaling):
        raise ModelFormatError(f"{hf_dir}: the export does not support rope_scaling type 'dynamic'")
    if not any(hf_dir.glob("*.safetensors")):
        raise ModelFormatError(f"{hf_dir}: no *.safetensors weights")
    if not (hf_dir / "tokenizer.json").is_file():
        raise ModelFormatError(f"{hf_dir}: no tokenizer.json (a bundle ships its tokenizer)")
    return config


def export_f32(hf_dir: Path, work_dir: Path) -> Path:
    """Export the model in hf_dir into work_dir; return the path of model.onnx."""
    from optimum.exporters.onnx import main_export

    main_export(
        str(hf_dir),
        output=str(work_dir),
        task="text-generation-with-past",
        device="cpu",
        dtype="fp32",  # the quantizer replaces the matrices; norms and biases stay f32
        do_validation=False,  # quality.py and the tests compare outputs instead
    )
    path = work_dir / "model.onnx"
    if not path.is_file():
        raise RuntimeError(f"optimum wrote no {path}")
    return path
