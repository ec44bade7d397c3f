"""A GGUF file's metadata as the engine's ModelConfig.

The metadata is translated into the Hugging Face config.json fields it stands for,
and those go through ModelConfig.from_dict: one set of checks for both formats, so
a feature the engine lacks is refused by the same name either way.

    GGUF key ({arch}.…)                     config.json field
    block_count                             num_hidden_layers
    embedding_length                        hidden_size
    feed_forward_length                     intermediate_size
    attention.head_count                    num_attention_heads
    attention.head_count_kv                 num_key_value_heads (default: head_count)
    attention.key_length                    head_dim (default: hidden / heads)
    attention.value_length                  must equal head_dim
    rope.dimension_count                    must equal head_dim (partial RoPE is refused)
    context_length                          max_position_embeddings
    attention.layer_norm_rms_epsilon        rms_norm_eps
    rope.freq_base                          rope_theta (default 10000)
    rope.scaling.type / factor /            rope_scaling {rope_type, factor,
      original_context_length                 original_max_position_embeddings}
    attention.sliding_window                sliding_window
    (tensor token_embd rows)                vocab_size
    (no tensor output)                      tie_word_embeddings
    (tensor blk.0.attn_q.bias)              attention_bias
    tokenizer.ggml.eos_token_id, eot_token_id, eom_token_id   eos_token_id (all of them)
    tokenizer.ggml.bos_token_id             bos_token_id

gemma3 (read as llama.cpp's gemma3 graph runs it; rope.freq_base and rope.scaling.*
are the full-attention layers', as above, and only linear scaling is accepted):
    attention.sliding_window                sliding_window (absent or 0: every layer full)
    attention.sliding_window_pattern        layer_types: one bool per layer (true: sliding),
                                              or n: layer i slides unless i % n == n - 1
                                              (n = 0: all slide; absent: 6, llama.cpp's
                                              default, which its converter relies on)
    rope.freq_base_swa                      rope_local_base_freq (default 10000)
    final_logit_softcapping                 final_logit_softcapping (refused)
    (not stored: llama.cpp derives it)      query_pre_attn_scalar = key_length, or
                                              embedding_length / head_count for a
                                              62-layer model (Gemma 3 27B)
    (not stored: llama.cpp's GELU)          hidden_activation = gelu_pytorch_tanh
    (not stored: a GGUF has no dtype)       torch_dtype = float32: the embedding scale is
                                              sqrt(embedding_length) unrounded, the factor
                                              llama.cpp multiplies by, so the engine runs the
                                              file as llama.cpp does. transformers running the
                                              bfloat16 checkpoint rounds it (sqrt(640) = 25.30
                                              -> 25.25), a 0.2% difference.
Gemma's norm weights are stored as 1 + w by llama.cpp's converter: the weights loader takes
them as the scales they are, adding no offset. q and k rows are in Hugging Face order.

Llama-3 frequency scaling travels as a tensor, `rope_freqs` (one divisor per
frequency), not as metadata: the weights loader applies it to the RoPE tables.
"""

from __future__ import annotations

from typing import Any

from .errors import ModelFormatError
from .gguf_file import GgufFile
from .model_config import ModelConfig

# llama.cpp architecture -> Hugging Face architecture. Mistral files use "llama".
ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
}

# llama.cpp architectures whose q and k rows the converter reorders so that RoPE
# rotates adjacent pairs (x[2i], x[2i+1]); the engine rotates (x[i], x[i + d/2]).
PERMUTED_QK = frozenset({"llama"})

_ROPE_TYPES = {"none": None, "linear": "linear", "yarn": "yarn"}


def gguf_architecture(gf: GgufFile) -> str:
    arch = gf.value("general.architecture", str)
    if arch not in ARCHITECTURES:
        raise ModelFormatError(
            f"{gf.path}: architecture {arch!r} is not supported "
            f"(supported: {', '.join(sorted(ARCHITECTURES))})"
        )
    return arch


def hf_config_dict(gf: GgufFile) -> dict[str, Any]:
    """The config.json fields that the file's metadata and tensors stand for."""
    arch = gguf_architecture(gf)

    def meta(key: str, kind: type = int, default: Any = ...) -> Any:
        return gf.value(f"{arch}.{key}", kind, default)

    hidden = meta("embedding_length")
    heads = meta("attention.head_count")
    if not (isinstance(heads, int) and heads > 0 and hidden > 0):
        raise ModelFormatError(f"{gf.path}: embedding_length and head_count must be positive")
    head_dim = meta("attention.key_length", int, hidden // heads)
    if meta("attention.value_length", int, head_dim) != head_dim:
        raise ModelFormatError(f"{gf.path}: {arch}.attention.value_length differs from key_length")
    rope_dims = meta("rope.dimension_count", int, head_dim)
    if rope_dims != head_dim:
        raise ModelFormatError(
            f"{gf.path}: {arch}.rope.dimension_count={rope_dims} rotates part of each head "
            f"(head_dim={head_dim}); partial RoPE is not supported"
        )
    embedding = gf.tensors.get("token_embd.weight")
    if embedding is None or len(embedding.shape) != 2:
        raise ModelFormatError(f"{gf.path}: tensor 'token_embd.weight' is missing or not a matrix")
    raw: dict[str, Any] = {
        "architectures": [ARCHITECTURES[arch]],
        "hidden_size": hidden,
        "intermediate_size": meta("feed_forward_length"),
        "num_hidden_layers": meta("block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": meta("attention.head_count_kv", int, heads),
        "head_dim": head_dim,
        "vocab_size": embedding.rows,
        "max_position_embeddings": meta("context_length"),
        "rms_norm_eps": meta("attention.layer_norm_rms_epsilon", float),
        "rope_theta": meta("rope.freq_base", float, 10000.0),
        "tie_word_embeddings": "output.weight" not in gf.tensors,
        "attention_bias": "blk.0.attn_q.bias" in gf.tensors,
        "rope_scaling": _rope_scaling(gf, arch),
        "eos_token_id": _end_tokens(gf),
        "bos_token_id": gf.value("tokenizer.ggml.bos_token_id", int, None),
    }
    window = meta("attention.sliding_window", int, 0)
    if arch == "gemma3":
        raw.update(_gemma3_fields(gf, raw, window))
    elif window:
        if arch != "llama":
            raise ModelFormatError(f"{gf.path}: {arch}.attention.sliding_window is not supported")
        raw["architectures"] = ["MistralForCausalLM"]
        raw["sliding_window"] = window
    return raw


def gguf_model_config(gf: GgufFile) -> ModelConfig:
    return ModelConfig.from_dict(hf_config_dict(gf), where=str(gf.path))


def gemma3_query_pre_attn_scalar(layers: int, hidden: int, heads: int, head_dim: int) -> int:
    """The query scaling llama.cpp derives for a gemma3 file (it stores none): head_dim,
    except Gemma 3 27B, recognised by its 62 layers, whose scalar is hidden / heads."""
    return hidden // heads if layers == 62 else head_dim


def _gemma3_fields(gf: GgufFile, raw: dict[str, Any], window: int) -> dict[str, Any]:
    """The config.json fields of Gemma 3's features (see the module docstring)."""
    layers = raw["num_hidden_layers"]
    sliding = _gemma3_sliding_layers(gf, layers) if window else [False] * layers
    return {
        # Without a window no layer slides; ModelConfig still wants one: the whole context.
        "sliding_window": window or raw["max_position_embeddings"],
        "layer_types": ["sliding_attention" if s else "full_attention" for s in sliding],
        "rope_local_base_freq": gf.value("gemma3.rope.freq_base_swa", float, 10000.0),
        "query_pre_attn_scalar": gemma3_query_pre_attn_scalar(
            layers, raw["hidden_size"], raw["num_attention_heads"], raw["head_dim"]
        ),
        "hidden_activation": "gelu_pytorch_tanh",
        "final_logit_softcapping": gf.value("gemma3.final_logit_softcapping", float, None),
        "torch_dtype": "float32",
    }


def _gemma3_sliding_layers(gf: GgufFile, layers: int) -> list[bool]:
    key = "gemma3.attention.sliding_window_pattern"
    pattern = gf.value(key, (int, list), 6)
    if isinstance(pattern, list):
        if len(pattern) != layers or not all(isinstance(p, bool) for p in pattern):
            raise ModelFormatError(
                f"{gf.path}: metadata {key!r} must hold one bool per layer ({layers})"
            )
        return pattern
    if pattern < 0:
        raise ModelFormatError(f"{gf.path}: metadata {key!r} must not be negative, got {pattern}")
    return [pattern == 0 or i % pattern < pattern - 1 for i in range(layers)]


def _rope_scaling(gf: GgufFile, arch: str) -> dict[str, Any] | None:
    kind = gf.value(f"{arch}.rope.scaling.type", str, "none")
    # Gemma 3 ships linear scaling; how llama.cpp's gemma3 graph runs yarn on its
    # sliding layers is not what the engine was checked against.
    supported = ("none", "linear") if arch == "gemma3" else tuple(_ROPE_TYPES)
    if kind not in supported:
        raise ModelFormatError(
            f"{gf.path}: {arch}.rope.scaling.type {kind!r} is not supported "
            f"(supported: {', '.join(supported)})"
        )
    if _ROPE_TYPES[kind] is None:
        return None
    scaling: dict[str, Any] = {
        "rope_type": _ROPE_TYPES[kind],
        "factor": gf.value(f"{arch}.rope.scaling.factor", float),
    }
    original = gf.value(f"{arch}.rope.scaling.original_context_length", int, None)
    if original is not None:
        scaling["original_max_position_embeddings"] = original
    return scaling


def _end_tokens(gf: GgufFile) -> list[int]:
    ids = []
    for key in ("eos_token_id", "eot_token_id", "eom_token_id"):
        value = gf.value(f"tokenizer.ggml.{key}", int, None)
        if value is not None and value not in ids:
            ids.append(value)
    return ids
