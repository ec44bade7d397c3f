"""Hugging Face weights -> the engine's weight views, quantized at load.

Tensor names follow transformers' Llama-family modules (and Gemma 3's, whose
norms are named for where they sit: four per layer). Quantization here is
round-to-nearest (csrc/quantize.cpp); the export pipeline writes bundles with
calibrated codes in the same formats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _native
from .errors import ModelFormatError
from .model_config import ModelConfig
from .rope import local_rope_tables, rope_tables
from .safetensors_io import SafetensorsFolder

# quant -> (format of the matrices, of the output head, of the embedding table)
QUANT_SCHEMES = {
    "f32": ("f32", "f32", "f32"),
    "int8": ("q8", "q8", "q8"),
    "int4": ("q4", "q4", "q8"),
}


@dataclass
class EngineWeights:
    """What the native engine is built from: the views, and the bytes they hold.

    ``release_copied`` is called once the engine is built: the engine keeps its own fp16
    copy of the block scales, and with ``matrices`` true (kernels that read interleaved
    records, as the aarch64 ones do) of the quantized matrices as well, so views it
    copied from a mapped file can leave memory."""

    tensors: dict[str, Any]
    nbytes: int
    release_copied: Callable[[bool], None] = lambda matrices: None
    # from a GGUF file: "GGML type->engine format" -> how many tensors took that path
    # ("(requantized)" where the values changed)
    conversions: dict[str, int] | None = None


def quantized_view(
    name: str, fmt: str, rows: int, cols: int, chunks: Iterable[tuple[int, np.ndarray]]
) -> dict[str, Any]:
    """The [rows, cols] matrix `name` in q8 or q4, quantized from float32 row chunks.

    Chunks keep the float32 copy of a large matrix (an embedding table is
    hundreds of MB) from ever existing whole, so peak memory stays near the
    quantized size. The scales are float32 holding fp16 values (the engine's
    scale format): the engine's conversion at load keeps them exactly.
    """
    blocks = (cols + 31) // 32
    data = np.empty((rows, blocks, 32 if fmt == "q8" else 16), dtype=np.uint8)
    scales = np.empty((rows, blocks), dtype=np.float32)
    for row0, chunk in chunks:
        try:
            d, s = _native.quantize(np.ascontiguousarray(chunk, dtype=np.float32), fmt)
        except ValueError as e:  # weights beyond fp16 scales: say which tensor
            raise ModelFormatError(f"{name}: {e}") from None
        data[row0 : row0 + len(chunk)] = d
        scales[row0 : row0 + len(chunk)] = s
    return {"format": fmt, "rows": rows, "cols": cols, "data": data, "scales": scales}


def view_bytes(view: dict[str, Any]) -> int:
    return sum(v.nbytes for k, v in view.items() if isinstance(v, np.ndarray))


def load_hf_weights(
    folder: str | Path, config: ModelConfig, quant: str, max_context: int
) -> EngineWeights:
    if quant not in QUANT_SCHEMES:
        raise ValueError(f"quant must be one of {sorted(QUANT_SCHEMES)}, got {quant!r}")
    fmt, head_fmt, embed_fmt = QUANT_SCHEMES[quant]
    st = SafetensorsFolder(folder)
    c = config
    D, F, V, hd = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
    q_dim, kv_dim = c.num_attention_heads * hd, c.num_key_value_heads * hd
    total = 0

    def vector(name: str, n: int) -> np.ndarray:
        nonlocal total
        v = st.float32(name, (n,))
        total += v.nbytes
        return v

    def norm(name: str, n: int) -> np.ndarray:
        # Gemma's RMSNorm scales by (1 + w): the offset is added once, here.
        v = vector(name, n)
        return v + np.float32(c.norm_weight_offset) if c.norm_weight_offset else v

    def matrix(name: str, rows: int, cols: int, fmt_: str = fmt) -> dict[str, Any]:
        nonlocal total
        if fmt_ == "f32":
            view = {"format": "f32", "rows": rows, "cols": cols}
            view["data"] = st.float32(name, (rows, cols))
        else:
            chunks = st.float32_row_chunks(name, (rows, cols))
            view = quantized_view(name, fmt_, rows, cols, chunks)
        total += view_bytes(view)
        return view

    embedding = matrix("model.embed_tokens.weight", V, D, embed_fmt)
    head_name = "model.embed_tokens.weight" if c.tie_word_embeddings else "lm_head.weight"
    layers = []
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        layer = {
            "attn_norm": norm(p + "input_layernorm.weight", D),
            "wq": matrix(p + "self_attn.q_proj.weight", q_dim, D),
            "wk": matrix(p + "self_attn.k_proj.weight", kv_dim, D),
            "wv": matrix(p + "self_attn.v_proj.weight", kv_dim, D),
            "wo": matrix(p + "self_attn.o_proj.weight", D, q_dim),
            "w_gate": matrix(p + "mlp.gate_proj.weight", F, D),
            "w_up": matrix(p + "mlp.up_proj.weight", F, D),
            "w_down": matrix(p + "mlp.down_proj.weight", D, F),
        }
        if c.post_norms:
            layer["attn_post_norm"] = norm(p + "post_attention_layernorm.weight", D)
            layer["ffn_norm"] = norm(p + "pre_feedforward_layernorm.weight", D)
            layer["ffn_post_norm"] = norm(p + "post_feedforward_layernorm.weight", D)
        else:
            layer["ffn_norm"] = norm(p + "post_attention_layernorm.weight", D)
        if c.qkv_bias:
            layer["bq"] = vector(p + "self_attn.q_proj.bias", q_dim)
            layer["bk"] = vector(p + "self_attn.k_proj.bias", kv_dim)
            layer["bv"] = vector(p + "self_attn.v_proj.bias", kv_dim)
        if c.o_bias:
            layer["bo"] = vector(p + "self_attn.o_proj.bias", D)
        if c.qk_norm:
            layer["q_norm"] = norm(p + "self_attn.q_norm.weight", hd)
            layer["k_norm"] = norm(p + "self_attn.k_norm.weight", hd)
        layers.append(layer)
    if c.tie_word_embeddings and head_fmt == "f32" and embed_fmt == "f32":
        lm_head = embedding  # the same floats: one copy serves both roles
    else:
        lm_head = matrix(head_name, V, D, head_fmt)
    cos, sin = rope_tables(c, max_context)
    tensors = {
        "embedding": embedding,
        "layers": layers,
        "final_norm": norm("model.norm.weight", D),
        "lm_head": lm_head,
        "rope_cos": cos,
        "rope_sin": sin,
    }
    if c.rope_local_theta is not None:
        tensors["rope_local_cos"], tensors["rope_local_sin"] = local_rope_tables(c, max_context)
    return EngineWeights(tensors=tensors, nbytes=total)
