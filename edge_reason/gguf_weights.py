"""A GGUF file's tensors as the native engine's weight views.

Two GGML types are the engine's own formats up to a repack, and load without a
weight changing: Q8_0 (an fp16 scale and 32 int8 codes) is the engine's Q8 with
the codes offset by 128, and Q4_0 (an fp16 scale and 16 bytes holding elements j
and j + 16 in the low and high nibbles of byte j) is its Q4 with the nibbles
paired differently. Q4_0 also becomes Q8 exactly (same scale, codes + 120).
Every other type (F32, F16, BF16, Q4_1, Q5_x, the K-quants) is expanded to
float32 by the `gguf` package's reference dequantizers, a block of rows at a
time, and quantized to the engine's format by its round-to-nearest quantizer.

`quant` picks the engine's format for the matrices:
- None (the default): Q8_0 and Q4_0 stay as they are, everything else becomes Q8;
- "int8": every matrix Q8; "int4": every matrix Q4 (the embedding table Q8, as
  for Hugging Face models); "f32": every matrix float32.
What happened to each tensor type is reported (`EngineWeights.conversions`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .gguf_config import PERMUTED_QK, gguf_architecture
from .gguf_file import GgufFile, GgufTensor
from .hf_weights import EngineWeights, quantized_view, view_bytes
from .model_config import ModelConfig
from .rope import local_rope_tables, rope_tables

GGUF_QUANTS = (None, "f32", "int8", "int4")
_ROWS_PER_CHUNK = 2048  # rows expanded to float32 at a time: bounds the peak memory


def load_gguf_weights(
    gf: GgufFile, config: ModelConfig, quant: str | None, max_context: int
) -> EngineWeights:
    if quant not in GGUF_QUANTS:
        raise ValueError(f"quant must be one of {GGUF_QUANTS[1:]} or None, got {quant!r}")
    c = config
    arch = gguf_architecture(gf)
    D, F, V, hd = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
    q_dim, kv_dim = c.num_attention_heads * hd, c.num_key_value_heads * hd
    conversions: Counter[str] = Counter()
    used: set[str] = set()
    total = 0

    def vector(name: str, n: int, heads: int = 0) -> np.ndarray:
        nonlocal total
        used.add(name)
        v = float_values(gf.tensor(name, (n,)), heads)
        total += v.nbytes
        return v

    def matrix(name: str, rows: int, cols: int, role: str = "matrix", heads: int = 0):
        nonlocal total
        t = gf.tensor(name, (rows, cols))
        used.add(name)
        fmt = _engine_format(t.type_name, quant, role)
        view = _convert(t, fmt, heads)
        note = "" if _is_exact(t.type_name, fmt) else " (requantized)"
        conversions[f"{t.type_name}->{fmt}{note}"] += 1
        total += view_bytes(view)
        return view

    permute = arch in PERMUTED_QK
    # Gemma's norms scale by (1 + w) and llama.cpp's converter stores 1 + w: the values
    # are the scales already, so c.norm_weight_offset is not added here.
    layers = []
    for i in range(c.num_hidden_layers):
        p = f"blk.{i}."
        layer: dict[str, Any] = {
            "attn_norm": vector(p + "attn_norm.weight", D),
            "ffn_norm": vector(p + "ffn_norm.weight", D),
            "wq": matrix(p + "attn_q.weight", q_dim, D, heads=c.num_attention_heads * permute),
            "wk": matrix(p + "attn_k.weight", kv_dim, D, heads=c.num_key_value_heads * permute),
            "wv": matrix(p + "attn_v.weight", kv_dim, D),
            "wo": matrix(p + "attn_output.weight", D, q_dim),
            "w_gate": matrix(p + "ffn_gate.weight", F, D),
            "w_up": matrix(p + "ffn_up.weight", F, D),
            "w_down": matrix(p + "ffn_down.weight", D, F),
        }
        if c.qkv_bias:
            layer["bq"] = vector(p + "attn_q.bias", q_dim, heads=c.num_attention_heads * permute)
            layer["bk"] = vector(p + "attn_k.bias", kv_dim, heads=c.num_key_value_heads * permute)
            layer["bv"] = vector(p + "attn_v.bias", kv_dim)
        if c.o_bias:
            layer["bo"] = vector(p + "attn_output.bias", D)
        if c.qk_norm:
            layer["q_norm"] = vector(p + "attn_q_norm.weight", hd)
            layer["k_norm"] = vector(p + "attn_k_norm.weight", hd)
        if c.post_norms:  # Gemma 3; its ffn_norm is the pre-feed-forward norm
            layer["attn_post_norm"] = vector(p + "post_attention_norm.weight", D)
            layer["ffn_post_norm"] = vector(p + "post_ffw_norm.weight", D)
        layers.append(layer)
    embedding = matrix("token_embd.weight", V, D, role="embedding")
    if c.tie_word_embeddings:
        shared = _engine_format(gf.tensors["token_embd.weight"].type_name, quant, "head")
        head = embedding if shared == embedding["format"] else matrix("token_embd.weight", V, D)
    else:
        head = matrix("output.weight", V, D, role="head")
    final_norm = vector("output_norm.weight", D)
    # Llama-3 scaling travels as per-frequency divisors; yarn and linear as metadata.
    divisors = vector("rope_freqs.weight", hd // 2) if "rope_freqs.weight" in gf.tensors else None
    unused = sorted(set(gf.tensors) - used)
    if unused:
        raise ModelFormatError(
            f"{gf.path}: tensors the {arch} architecture does not use: {', '.join(unused[:5])}"
            + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        )
    cos, sin = rope_tables(c, max_context, divisors)
    tensors = {
        "embedding": embedding,
        "layers": layers,
        "final_norm": final_norm,
        "lm_head": head,
        "rope_cos": cos,
        "rope_sin": sin,
    }
    if c.rope_local_theta is not None:
        tensors["rope_local_cos"], tensors["rope_local_sin"] = local_rope_tables(c, max_context)
    return EngineWeights(tensors, total, conversions=dict(sorted(conversions.items())))


def _engine_format(type_name: str, quant: str | None, role: str) -> str:
    """The engine's format for a matrix of `type_name` (the embedding table is never q4)."""
    if quant == "f32":
        return "f32"
    wants_q4 = quant == "int4" or (quant is None and type_name == "Q4_0")
    return "q4" if wants_q4 and role != "embedding" else "q8"


def _is_exact(type_name: str, fmt: str) -> bool:
    """Whether the engine computes with exactly the values the file stores."""
    return fmt == "f32" or (type_name, fmt) in _REPACKED


_REPACKED = {("Q8_0", "q8"), ("Q4_0", "q4"), ("Q4_0", "q8")}


def _convert(t: GgufTensor, fmt: str, heads: int) -> dict[str, Any]:
    rows, cols = t.shape
    if fmt == "f32":
        return {"format": "f32", "rows": rows, "cols": cols, "data": float_values(t, heads)}
    raw = t.data if not heads else _unpermute_rows(t.data, heads)
    if (t.type_name, fmt) in _REPACKED:
        return _repack(t.type_name, fmt, raw, rows, cols)
    return quantized_view(t.name, fmt, rows, cols, _float_chunks(t, raw))


def float_values(t: GgufTensor, heads: int = 0) -> np.ndarray:
    """The tensor's values as float32 in its own shape. heads: the number of heads of a
    q or k tensor that llama.cpp reordered (PERMUTED_QK), whose rows are put back in
    Hugging Face order; 0 for any other tensor."""
    raw = t.data if not heads or t.data.ndim == 1 else _unpermute_rows(t.data, heads)
    values = np.empty((t.rows, t.cols), dtype=np.float32)
    for r0, chunk in _float_chunks(t, raw):
        values[r0 : r0 + len(chunk)] = chunk
    values = values.reshape(t.shape)
    # a vector is dequantized whole first: its bytes are blocks of elements, not rows
    return _unpermute_rows(values, heads) if heads and values.ndim == 1 else values


def _repack(type_name: str, fmt: str, raw: np.ndarray, rows: int, cols: int) -> dict[str, Any]:
    """Q8_0 / Q4_0 blocks -> the engine's codes and fp16 scales, no value changed."""
    blocks = cols // 32
    block_bytes = 34 if type_name == "Q8_0" else 18
    b = np.ascontiguousarray(raw).reshape(rows, blocks, block_bytes)
    scales = b[:, :, :2].copy().view(np.float16).reshape(rows, blocks).astype(np.float32)
    body = b[:, :, 2:]
    if type_name == "Q8_0":
        data = body ^ np.uint8(0x80)  # int8 code x -> uint8 x + 128
    else:
        low, high = body & 0x0F, body >> 4  # elements 0..15, 16..31
        codes = np.concatenate([low, high], axis=2)
        if fmt == "q8":
            data = codes + np.uint8(120)  # (code - 8) + 128
        else:
            data = codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)
    return {
        "format": fmt,
        "rows": rows,
        "cols": cols,
        "data": np.ascontiguousarray(data),
        "scales": scales,
    }


def _float_chunks(t: GgufTensor, raw: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for r0 in range(0, t.rows, _ROWS_PER_CHUNK):
        yield r0, _rows_as_float32(t, r0, min(r0 + _ROWS_PER_CHUNK, t.rows), raw)


def _rows_as_float32(t: GgufTensor, r0: int, r1: int, raw: np.ndarray | None = None) -> np.ndarray:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    data = t.data if raw is None else raw
    rows = data[r0:r1] if data.ndim == 2 else data
    if t.type_name in ("F32", "F16"):
        out = np.asarray(rows, dtype=np.float32)
    else:
        out = dequantize(np.asarray(rows), GGMLQuantizationType[t.type_name])
    out = out.reshape(-1, t.cols)
    if not np.isfinite(out).all():
        raise ModelFormatError(f"tensor {t.name!r} holds NaN or infinite values")
    return out


def _unpermute_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row order: within each head, GGUF row 2i + j is row
    j * (head_dim / 2) + i of the Hugging Face weight."""
    n = rows.shape[0]
    half = n // heads // 2
    return rows.reshape(heads, half, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
