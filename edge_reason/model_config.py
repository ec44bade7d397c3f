"""The architecture of a Hugging Face Llama-family model, read from config.json.

Every field the engine does not implement is refused by name, so a model
never runs with a feature silently ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelFormatError

# architecture -> (has q/k/v bias, has per-head q/k RMSNorm)
ARCHITECTURES = {
    "LlamaForCausalLM": (False, False),
    "MistralForCausalLM": (False, False),
    "Qwen2ForCausalLM": (True, False),
    "Qwen3ForCausalLM": (False, True),
}


@dataclass(frozen=True)
class RopeScaling:
    """Llama-3 style frequency scaling (rope_type "llama3")."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


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
    eos_token_ids: tuple[int, ...] = field(default_factory=tuple)
    bos_token_id: int | None = None

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelConfig:
        path = Path(folder) / "config.json"
        if not path.is_file():
            raise ModelFormatError(
                f"{folder}: no config.json (is this a Hugging Face model folder?)"
            )
        try:
            raw = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelFormatError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(raw, dict):
            raise ModelFormatError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, where=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> ModelConfig:
        def need(key: str, kind: type = int) -> Any:
            if key not in raw:
                raise ModelFormatError(f"{where}: field {key!r} is missing")
            value = raw[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise ModelFormatError(
                    f"{where}: field {key!r} must be {kind.__name__}, got {value!r}"
                )
            return value

        archs = raw.get("architectures") or []
        arch = archs[0] if isinstance(archs, list) and len(archs) == 1 else None
        if arch not in ARCHITECTURES:
            raise ModelFormatError(
                f"{where}: architecture {archs!r} is not supported "
                f"(supported: {', '.join(sorted(ARCHITECTURES))})"
            )
        qkv_bias, qk_norm = ARCHITECTURES[arch]
        hidden = need("hidden_size")
        heads = need("num_attention_heads")
        kv_heads = raw.get("num_key_value_heads") or heads
        head_dim = raw.get("head_dim") or hidden // heads
        if heads % kv_heads:
            raise ModelFormatError(
                f"{where}: num_attention_heads={heads} is not a multiple of "
                f"num_key_value_heads={kv_heads}"
            )
        if head_dim % 2:
            raise ModelFormatError(f"{where}: head_dim={head_dim} must be even for RoPE")

        act = raw.get("hidden_act", "silu")
        if act != "silu":
            raise ModelFormatError(f"{where}: hidden_act={act!r} is not supported (only 'silu')")
        if raw.get("mlp_bias"):
            raise ModelFormatError(f"{where}: mlp_bias=true is not supported")
        if raw.get("partial_rotary_factor", 1.0) != 1.0:
            raise ModelFormatError(f"{where}: partial_rotary_factor is not supported")
        attention_bias = bool(raw.get("attention_bias", False))
        if (
            arch in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen3ForCausalLM")
            and attention_bias
        ):
            qkv_bias = True
        o_bias = attention_bias and arch in ("LlamaForCausalLM", "Qwen3ForCausalLM")

        sliding = 0
        if arch == "MistralForCausalLM" and raw.get("sliding_window"):
            sliding = int(raw["sliding_window"])
        if arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM") and raw.get("use_sliding_window"):
            raise ModelFormatError(f"{where}: use_sliding_window=true is not supported")

        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else ((eos,) if isinstance(eos, int) else ())
        return cls(
            architecture=arch,
            hidden_size=hidden,
            intermediate_size=need("intermediate_size"),
            num_hidden_layers=need("num_hidden_layers"),
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            vocab_size=need("vocab_size"),
            max_position_embeddings=need("max_position_embeddings"),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            qkv_bias=qkv_bias,
            o_bias=o_bias,
            qk_norm=qk_norm,
            sliding_window=sliding,
            rope_scaling=_rope_scaling(raw.get("rope_scaling"), where),
            eos_token_ids=eos_ids,
            bos_token_id=raw.get("bos_token_id"),
        )


def _rope_scaling(raw: Any, where: str) -> RopeScaling | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ModelFormatError(f"{where}: rope_scaling must be an object or null")
    kind = raw.get("rope_type", raw.get("type"))
    if kind == "default":
        return None
    if kind != "llama3":
        raise ModelFormatError(
            f"{where}: rope_scaling type {kind!r} is not supported (only 'llama3' and 'default')"
        )
    try:
        scaling = RopeScaling(
            factor=float(raw["factor"]),
            low_freq_factor=float(raw["low_freq_factor"]),
            high_freq_factor=float(raw["high_freq_factor"]),
            original_max_position_embeddings=int(raw["original_max_position_embeddings"]),
        )
    except KeyError as e:
        raise ModelFormatError(f"{where}: rope_scaling (llama3) needs field {e.args[0]!r}") from e
    if not (scaling.factor > 0 and scaling.high_freq_factor > scaling.low_freq_factor > 0):
        raise ModelFormatError(f"{where}: rope_scaling factors are out of range: {raw!r}")
    if not math.isfinite(scaling.factor):
        raise ModelFormatError(f"{where}: rope_scaling.factor must be finite")
    return scaling
