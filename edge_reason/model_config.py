"""The architecture of a Hugging Face Llama-family model, read from config.json.

Every field the engine does not implement is refused by name, so a model
never runs with a feature silently ignored.

config.json -> ModelConfig (what a loader of another format maps onto):
    hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    vocab_size, max_position_embeddings, rope_theta, tie_word_embeddings:
                            the fields of the same name
    num_key_value_heads     num_key_value_heads (absent: num_attention_heads)
    head_dim                head_dim (absent: hidden_size / num_attention_heads;
                            Gemma 3: 256)
    rms_norm_eps            rms_norm_eps
    rope_scaling            rope_scaling: a typed description (rope_scaling.py)
    attention_bias          qkv_bias (Qwen2: always); o_bias (Llama, Qwen3, Gemma 3)
    eos_token_id, bos_token_id
                            eos_token_ids (a tuple), bos_token_id
    sliding_window          sliding_window (Mistral: every layer; Gemma 3: the
                            layers marked sliding in sliding_layers)
Gemma 3 (Gemma3ForCausalLM, model_type gemma3_text) only; absent fields take
Gemma3TextConfig's defaults (GEMMA3_DEFAULTS), as transformers does:
    layer_types, or sliding_window_pattern when layer_types is null (every
    pattern-th layer full, the others sliding)
                            sliding_layers: one bool per layer
    rope_local_base_freq    rope_local_theta: the sliding layers' RoPE base,
                            never scaled (rope_theta and rope_scaling are the
                            full-attention layers')
    hidden_activation       hidden_activation: "gelu_tanh" for gelu_pytorch_tanh
    query_pre_attn_scalar   attention_scale = query_pre_attn_scalar ** -0.5
    (always)                post_norms = True: RMSNorm on the attention and
                            MLP outputs (post_attention_layernorm,
                            post_feedforward_layernorm) as well as on their
                            inputs (input_layernorm, pre_feedforward_layernorm)
    (always)                norm_weight_offset = 1: Gemma's RMSNorm scales by
                            (1 + weight); added to the weights at load
    torch_dtype (or dtype)  embedding_scale = sqrt(hidden_size), rounded to
                            that dtype, as transformers' embedding multiplies
                            in the model's dtype (bfloat16 Gemma: sqrt(640) = 25.25)
    final_logit_softcapping, attn_logit_softcapping, use_bidirectional_attention:
                            refused when set (Gemma 3 sets none of them)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .regular_file import read_regular
from .rope_scaling import RopeScaling, parse_rope_scaling

# architecture -> (has q/k/v bias, has per-head q/k RMSNorm)
ARCHITECTURES = {
    "LlamaForCausalLM": (False, False),
    "MistralForCausalLM": (False, False),
    "Qwen2ForCausalLM": (True, False),
    "Qwen3ForCausalLM": (False, True),
    "Gemma3ForCausalLM": (False, True),
}
# architecture -> transformers' model_type (AutoConfig.for_model's key)
MODEL_TYPES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Gemma3ForCausalLM": "gemma3_text",
}


# Gemma3TextConfig's defaults (transformers 4.57) for the fields a config.json
# may leave out: save_pretrained omits a value equal to the library default.
GEMMA3_DEFAULTS = {
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "query_pre_attn_scalar": 256,
    "rope_theta": 1_000_000.0,
    "rope_local_base_freq": 10_000.0,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}

# config.json's hidden_activation -> the engine's gated activation
GEMMA3_ACTIVATIONS = {"gelu_pytorch_tanh": "gelu_tanh"}


def hf_config(architecture: str, **fields: Any) -> dict[str, Any]:
    """config.json fields of an `architecture` model: architectures and model_type,
    then `fields`."""
    return {"architectures": [architecture], "model_type": MODEL_TYPES[architecture], **fields}


@dataclass(frozen=True)
class ModelConfig:
    architecture: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    qk_norm: bool
    sliding_window: int  # 0: none
    rope_scaling: RopeScaling | None = None
    # Gemma 3's features; the defaults are the Llama family's (see the module docstring).
    hidden_activation: str = "silu"  # of the MLP's gate: "silu" or "gelu_tanh"
    sliding_layers: tuple[bool, ...] = ()  # per layer; empty: the window, if any, is every layer's
    rope_local_theta: float | None = None  # the sliding layers' RoPE base, unscaled
    attention_scale: float | None = None  # None: head_dim ** -0.5
    post_norms: bool = False
    norm_weight_offset: float = 0.0
    embedding_scale: float = 1.0
    eos_token_ids: tuple[int, ...] = field(default_factory=tuple)
    bos_token_id: int | None = None

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelConfig:
        path = Path(folder) / "config.json"
        return cls.from_dict(read_config_json(folder), where=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> ModelConfig:
        archs = raw.get("architectures") or []
        arch = archs[0] if isinstance(archs, list) and len(archs) == 1 else None
        if arch not in ARCHITECTURES:
            raise ModelFormatError(
                f"{where}: architecture {archs!r} is not supported "
                f"(supported: {', '.join(sorted(ARCHITECTURES))})"
            )
        gemma3 = arch == "Gemma3ForCausalLM"
        if gemma3:
            raw = {**GEMMA3_DEFAULTS, **raw}

        qkv_bias, qk_norm = ARCHITECTURES[arch]

        def size(key: str, default: int | None = None) -> int:
            return size_field(raw, key, where, default)

        hidden = size("hidden_size")
        heads = size("num_attention_heads")
        kv_heads = size("num_key_value_heads", heads)
        head_dim = size("head_dim", hidden // heads)
        if heads % kv_heads:
            raise ModelFormatError(
                f"{where}: num_attention_heads={heads} is not a multiple of "
                f"num_key_value_heads={kv_heads}"
            )
        if head_dim % 2:
            raise ModelFormatError(f"{where}: head_dim={head_dim} must be even for RoPE")
        if heads * head_dim > _MAX_SIZES["hidden_size"] * 4:
            raise ModelFormatError(
                f"{where}: num_attention_heads x head_dim = {heads * head_dim} is beyond "
                f"{_MAX_SIZES['hidden_size'] * 4}"
            )

        act = raw.get("hidden_act", "silu")
        if act != "silu" and not gemma3:
            raise ModelFormatError(f"{where}: hidden_act={act!r} is not supported (only 'silu')")
        if raw.get("mlp_bias"):
            raise ModelFormatError(f"{where}: mlp_bias=true is not supported")
        if raw.get("partial_rotary_factor", 1.0) != 1.0:
            raise ModelFormatError(f"{where}: partial_rotary_factor is not supported")
        attention_bias = bool(raw.get("attention_bias", False))
        if arch != "Qwen2ForCausalLM" and attention_bias:
            qkv_bias = True
        o_bias = attention_bias and arch in (
            "LlamaForCausalLM",
            "Qwen3ForCausalLM",
            "Gemma3ForCausalLM",
        )

        sliding = 0
        if arch == "MistralForCausalLM" and raw.get("sliding_window"):
            sliding = size("sliding_window")
        if arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM") and raw.get("use_sliding_window"):
            raise ModelFormatError(f"{where}: use_sliding_window=true is not supported")

        layers = size("num_hidden_layers")
        max_positions = size("max_position_embeddings")
        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else ((eos,) if isinstance(eos, int) else ())
        fields = dict(
            architecture=arch,
            hidden_size=hidden,
            intermediate_size=size("intermediate_size"),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            vocab_size=size("vocab_size"),
            max_position_embeddings=max_positions,
            rms_norm_eps=positive_float_field(raw, "rms_norm_eps", 1e-6, where),
            rope_theta=positive_float_field(raw, "rope_theta", 10000.0, where),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            qkv_bias=qkv_bias,
            o_bias=o_bias,
            qk_norm=qk_norm,
            sliding_window=sliding,
            rope_scaling=parse_rope_scaling(raw.get("rope_scaling"), max_positions, where),
            eos_token_ids=eos_ids,
            bos_token_id=raw.get("bos_token_id"),
        )
        if gemma3:
            fields.update(_gemma3_fields(raw, hidden, layers, where))
        return cls(**fields)


_MAX_CONFIG_BYTES = 16 << 20


def read_config_json(folder: str | Path) -> dict[str, Any]:
    """The JSON object of a Hugging Face folder's config.json."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise ModelFormatError(f"{folder}: no config.json (is this a Hugging Face model folder?)")
    return read_json_object(path)


def read_json(path: Path) -> Any:
    """The value of a small JSON file (a config), refused by name if it is not JSON."""
    try:
        return json.loads(read_regular(path, limit=_MAX_CONFIG_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"{path}: not valid JSON ({e})") from e


def read_json_object(path: Path) -> dict[str, Any]:
    """A small JSON file that must hold an object (a config), refused by name otherwise."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise ModelFormatError(f"{path}: expected a JSON object")
    return raw


# Bounds on a config's sizes, far above any model this engine can hold in memory, so
# that a wrong or hostile config.json is refused by name before any arithmetic on it
# (the engine's sizes are 32-bit) or any allocation.
_MAX_SIZES = {
    "hidden_size": 1 << 16,
    "intermediate_size": 1 << 18,
    "num_hidden_layers": 1024,
    "num_attention_heads": 1024,
    "num_key_value_heads": 1024,
    "head_dim": 2048,
    "vocab_size": 1 << 22,
    "max_position_embeddings": 1 << 24,
    "sliding_window": 1 << 24,
    # encoders (encoder_config.py)
    "type_vocab_size": 1 << 10,
    "max_seq_length": 1 << 24,
}


def size_field(raw: dict[str, Any], key: str, where: str, default: int | None) -> int:
    """A positive integer field within _MAX_SIZES; `default` if absent or null."""
    value = raw.get(key)
    if value is None and default is not None:
        value = default
    elif value is None:
        raise ModelFormatError(f"{where}: field {key!r} is missing")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ModelFormatError(f"{where}: field {key!r} must be an integer, got {value!r}")
    if not 1 <= value <= _MAX_SIZES[key]:
        raise ModelFormatError(
            f"{where}: field {key!r} is {value}; it must be between 1 and {_MAX_SIZES[key]}"
        )
    return value


def positive_float_field(raw: dict[str, Any], key: str, default: float | None, where: str) -> float:
    value = raw.get(key, default)
    if value is None:
        raise ModelFormatError(f"{where}: field {key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFormatError(f"{where}: field {key!r} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ModelFormatError(f"{where}: field {key!r} must be finite and positive, got {value!r}")
    return float(value)


def required_field(raw: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in raw:
        raise ModelFormatError(f"{where}: field {key!r} is missing")
    value = raw[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ModelFormatError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _gemma3_fields(raw: dict[str, Any], hidden: int, layers: int, where: str) -> dict[str, Any]:
    """The ModelConfig fields of Gemma 3's features, from a config with its defaults filled in."""
    for key in ("final_logit_softcapping", "attn_logit_softcapping"):
        if raw.get(key) is not None:
            raise ModelFormatError(f"{where}: {key}={raw[key]!r} is not supported")
    if raw.get("use_bidirectional_attention"):
        raise ModelFormatError(f"{where}: use_bidirectional_attention=true is not supported")
    activation = raw["hidden_activation"]
    if activation not in GEMMA3_ACTIVATIONS:
        raise ModelFormatError(
            f"{where}: hidden_activation={activation!r} is not supported "
            f"(supported: {', '.join(sorted(GEMMA3_ACTIVATIONS))})"
        )
    window = size_field(raw, "sliding_window", where, None)
    scalar = positive_float_field(raw, "query_pre_attn_scalar", None, where)
    local_theta = positive_float_field(raw, "rope_local_base_freq", None, where)
    return {
        "hidden_activation": GEMMA3_ACTIVATIONS[activation],
        "sliding_window": window,
        "sliding_layers": _sliding_layers(raw, layers, where),
        "rope_local_theta": local_theta,
        "attention_scale": scalar**-0.5,
        "post_norms": True,
        "norm_weight_offset": 1.0,
        "embedding_scale": _in_dtype(hidden**0.5, raw.get("torch_dtype", raw.get("dtype")), where),
    }


def _sliding_layers(raw: dict[str, Any], layers: int, where: str) -> tuple[bool, ...]:
    """Which layers attend through the sliding window: layer_types, else the pattern."""
    kinds = {"sliding_attention": True, "full_attention": False}
    types = raw.get("layer_types")
    if types is None:
        pattern = required_field(raw, "sliding_window_pattern", int, where)
        if pattern <= 0:
            raise ModelFormatError(
                f"{where}: sliding_window_pattern must be positive, got {pattern}"
            )
        return tuple(bool((i + 1) % pattern) for i in range(layers))
    if not isinstance(types, list) or len(types) != layers:
        got = len(types) if isinstance(types, list) else repr(types)
        raise ModelFormatError(
            f"{where}: layer_types must list one type per layer ({layers}), got {got}"
        )
    for i, kind in enumerate(types):
        if kind not in kinds:
            raise ModelFormatError(
                f"{where}: layer_types[{i}]={kind!r} is neither 'full_attention' "
                f"nor 'sliding_attention'"
            )
    return tuple(kinds[kind] for kind in types)


def _in_dtype(value: float, dtype: Any, where: str) -> float:
    """value as float32, then rounded to the model's dtype (nearest, ties to even)."""
    x = np.float32(value)
    if dtype in (None, "float32"):
        return float(x)
    if dtype == "float16":
        return float(np.float16(x))
    if dtype == "bfloat16":
        bits = int(np.array(x).view(np.uint32))
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return float(np.array(bits, dtype=np.uint32).view(np.float32))
    raise ModelFormatError(
        f"{where}: torch_dtype={dtype!r} is not supported (float32, bfloat16, float16)"
    )
