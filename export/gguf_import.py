"""A GGUF file as a Hugging Face model folder, so that the export pipeline can bundle it.

The folder holds what `edge-reason export` reads from any Hugging Face model:
- config.json: the fields gguf_config translates the metadata into (the ones
  Engine.load uses), plus model_type for transformers, and as eos_token_id every
  token that ends generation in llama.cpp's vocabulary;
- model.safetensors: every tensor expanded to float32 (gguf_weights.float_values,
  llama's q/k rows back in Hugging Face order) under transformers' names. The
  file's quantized values are kept exactly; the export then rounds them again to
  its own blocks, and its quality report measures that against the GGUF's values;
- tokenizer.json: the tokenizer built from the vocabulary;
- chat_template.jinja and tokenizer_config.json (bos/eos strings) from
  tokenizer.chat_template, where chat_template.find_chat_template looks.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..bundle import BUNDLE_ARCHITECTURES
from ..bundle_manifest import file_sha256
from ..chat_template import TEMPLATE_FILE, TOKENIZER_CONFIG_FILE
from ..errors import ModelFormatError
from ..gguf_config import PERMUTED_QK, gguf_architecture, gguf_model_config, hf_config_dict
from ..gguf_file import GgufFile
from ..gguf_tokenizer import build_gguf_tokenizer
from ..gguf_weights import float_values
from ..model_config import MODEL_TYPES
from .bundle import check_output_folder

# llama.cpp tensor name -> transformers' (the reverse of convert_hf_to_gguf.py's map)
GLOBAL_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_TENSORS = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.bias": "self_attn.o_proj.bias",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def hf_folder_from_gguf(gguf_path: Path, out_dir: Path) -> dict[str, Any]:
    """Write the Hugging Face folder for the GGUF file into out_dir (which must exist and
    be empty); return the provenance a bundle records for the file."""
    import torch
    from safetensors.torch import save_file

    gf = GgufFile.open(gguf_path)
    config = gguf_model_config(gf)  # refuses what the engine cannot run, by name
    if config.architecture not in BUNDLE_ARCHITECTURES:  # the engine runs more than that
        raise ModelFormatError(
            f"{gguf_path}: the export does not support {config.architecture} (it exports "
            f"{', '.join(BUNDLE_ARCHITECTURES)}); Engine.load runs the file itself"
        )
    if "rope_freqs.weight" in gf.tensors:
        raise ModelFormatError(
            f"{gguf_path}: Llama-3 RoPE frequency scaling (tensor rope_freqs) has no "
            "config.json form the export can write; Engine.load runs the file itself"
        )
    vocabulary = build_gguf_tokenizer(gf.metadata, str(gguf_path))
    hf_config = hf_config_dict(gf)
    ends = hf_config["eos_token_id"] + sorted(vocabulary.end_of_generation_ids)
    hf_config["eos_token_id"] = list(dict.fromkeys(ends))
    hf_config["model_type"] = MODEL_TYPES[config.architecture]
    hf_config["torch_dtype"] = "float32"

    heads = {"attn_q": config.num_attention_heads, "attn_k": config.num_key_value_heads}
    permuted = gguf_architecture(gf) in PERMUTED_QK
    tensors = {}
    for name, t in gf.tensors.items():
        hf_name = _hf_name(name, gguf_path)
        q_or_k = name.split(".")[2] if name.startswith("blk.") else ""
        values = float_values(t, heads.get(q_or_k, 0) if permuted else 0)
        tensors[hf_name] = torch.from_numpy(values)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    (out_dir / "config.json").write_text(json.dumps(hf_config, indent=1) + "\n")
    vocabulary.tokenizer.save(str(out_dir / "tokenizer.json"))
    tokens = {"bos_token": vocabulary.bos_token, "eos_token": vocabulary.eos_token}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **{k: v for k, v in tokens.items() if v is not None},
    }
    (out_dir / TOKENIZER_CONFIG_FILE).write_text(json.dumps(tokenizer_config, indent=1) + "\n")
    if "tokenizer.chat_template" in gf.metadata:
        template = gf.value("tokenizer.chat_template", str)
        (out_dir / TEMPLATE_FILE).write_text(template, encoding="utf-8")
    return {
        "source_model": gguf_path.name,
        "source_model_sha256": file_sha256(gguf_path),
        "source_format": "gguf",
        "gguf_file_type": _file_type(gf),
        "gguf_tensor_types": dict(
            sorted(Counter(t.type_name for t in gf.tensors.values()).items())
        ),
    }


@contextmanager
def hf_folder_for(
    source: Path, out_dir: Path, *, force: bool = False
) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """(the Hugging Face folder to export, the provenance of what it was converted from).

    A folder is used as it is (provenance None). A GGUF file is converted into a
    temporary folder beside out_dir, removed on the way out whatever happens; out_dir
    is checked first, so a folder the export may not write stops it before the work."""
    if not source.is_file():
        yield source, None
        return
    check_output_folder(out_dir, force=force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.gguf-", dir=out_dir.parent) as tmp:
        folder = Path(tmp)
        yield folder, hf_folder_from_gguf(source, folder)


def _hf_name(name: str, where: Path) -> str:
    parts = name.split(".", 2)
    if name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[name]
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in LAYER_TENSORS:
        return f"model.layers.{parts[1]}.{LAYER_TENSORS[parts[2]]}"
    raise ModelFormatError(f"{where}: tensor {name!r} has no Hugging Face counterpart")


def _file_type(gf: GgufFile) -> str | None:
    """general.file_type as llama.cpp names it (e.g. MOSTLY_Q4_1), None if absent."""
    from gguf import LlamaFileType

    value = gf.value("general.file_type", int, None)
    if value is None:
        return None
    try:
        return LlamaFileType(value).name
    except ValueError:
        return f"unknown ({value})"
