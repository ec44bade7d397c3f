"""Hugging Face weights -> the engine's weight views, quantized at load.

Tensor names follow transformers' Llama-family modules (and Gemma 3's, whose
norms are named for where they sit: four per layer), and for encoders BertModel's
(load_bert_weights). Quantization here is
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
from .encoder_config import EncoderConfig
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


class TensorViews:
    """The tensors of a model folder's safetensors files as the engine's views, counting
    the bytes they hold: float32 vectors and tables, and matrices in an engine format."""

    def __init__(self, folder: str | Path) -> None:
        self.st = SafetensorsFolder(folder)
        self.nbytes = 0

    def __contains__(self, name: str) -> bool:
        return name in self.st

    def floats(self, name: str, *shape: int) -> np.ndarray:
        v = self.st.float32(name, shape)
        self.nbytes += v.nbytes
        return v

    def matrix(self, name: str, rows: int, cols: int, fmt: str) -> dict[str, Any]:
        if fmt == "f32":
            view = {"format": "f32", "rows": rows, "cols": cols}
            view["data"] = self.st.float32(name, (rows, cols))
        else:
            chunks = self.st.float32_row_chunks(name, (rows, cols))
            view = quantized_view(name, fmt, rows, cols, chunks)
        self.nbytes += view_bytes(view)
        return view


def load_hf_weights(
    folder: str | Path, config: ModelConfig, quant: str, max_context: int
) -> EngineWeights:
    if quant not in QUANT_SCHEMES:
        raise ValueError(f"quant must be one of {sorted(QUANT_SCHEMES)}, got {quant!r}")
    fmt, head_fmt, embed_fmt = QUANT_SCHEMES[quant]
    views = TensorViews(folder)
    c = config
    D, F, V, hd = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
    q_dim, kv_dim = c.num_attention_heads * hd, c.num_key_value_heads * hd
    vector = views.floats

    def norm(name: str, n: int) -> np.ndarray:
        # Gemma's RMSNorm scales by (1 + w): the offset is added once, here.
        v = vector(name, n)
        return v + np.float32(c.norm_weight_offset) if c.norm_weight_offset else v

    def matrix(name: str, rows: int, cols: int, fmt_: str = fmt) -> dict[str, Any]:
        return views.matrix(name, rows, cols, fmt_)

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
    return EngineWeights(tensors=tensors, nbytes=views.nbytes)


def load_bert_weights(folder: str | Path, config: EncoderConfig, quant: str) -> EngineWeights:
    """A BERT encoder's views (BertModel's tensor names, with or without the "bert." of a
    model with a head): {"words": matrix, "positions", "types", "embed_norm",
    "embed_norm_bias", "layers": [{"wq": matrix, "bq", ...}]}, as csrc/encoder.h names them.
    The word table is held as the decoders' embedding is (q8 for int8 and int4)."""
    if quant not in QUANT_SCHEMES:
        raise ValueError(f"quant must be one of {sorted(QUANT_SCHEMES)}, got {quant!r}")
    fmt, _, embed_fmt = QUANT_SCHEMES[quant]
    views = TensorViews(folder)
    c = config
    D, F = c.hidden_size, c.intermediate_size
    words = "embeddings.word_embeddings.weight"
    e = "bert." if words not in views and "bert." + words in views else ""
    layers = []
    for i in range(c.num_hidden_layers):
        p = f"{e}encoder.layer.{i}."
        layers.append(
            {
                "wq": views.matrix(p + "attention.self.query.weight", D, D, fmt),
                "bq": views.floats(p + "attention.self.query.bias", D),
                "wk": views.matrix(p + "attention.self.key.weight", D, D, fmt),
                "bk": views.floats(p + "attention.self.key.bias", D),
                "wv": views.matrix(p + "attention.self.value.weight", D, D, fmt),
                "bv": views.floats(p + "attention.self.value.bias", D),
                "wo": views.matrix(p + "attention.output.dense.weight", D, D, fmt),
                "bo": views.floats(p + "attention.output.dense.bias", D),
                "attn_norm": views.floats(p + "attention.output.LayerNorm.weight", D),
                "attn_norm_bias": views.floats(p + "attention.output.LayerNorm.bias", D),
                "w_up": views.matrix(p + "intermediate.dense.weight", F, D, fmt),
                "b_up": views.floats(p + "intermediate.dense.bias", F),
                "w_down": views.matrix(p + "output.dense.weight", D, F, fmt),
                "b_down": views.floats(p + "output.dense.bias", D),
                "ffn_norm": views.floats(p + "output.LayerNorm.weight", D),
                "ffn_norm_bias": views.floats(p + "output.LayerNorm.bias", D),
            }
        )
    p = f"{e}embeddings."
    tensors = {
        "words": views.matrix(e + words, c.vocab_size, D, embed_fmt),
        "positions": views.floats(p + "position_embeddings.weight", c.max_position_embeddings, D),
        "types": views.floats(p + "token_type_embeddings.weight", c.type_vocab_size, D),
        "embed_norm": views.floats(p + "LayerNorm.weight", D),
        "embed_norm_bias": views.floats(p + "LayerNorm.bias", D),
        "layers": layers,
    }
    return EngineWeights(tensors=tensors, nbytes=views.nbytes)
