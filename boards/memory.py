"""How much RAM a quantized model needs, and whether it fits a board.

Weights are stored in blocks of 32 values with one scale per block, which the engine
holds as fp16 (the bundle's float32 copy leaves memory after load), so int4 costs
0.5 + 2/32 bytes per parameter and int8 1 + 2/32. The KV cache holds
a key and a value vector of `kv_dim` numbers per layer and position.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..bundle import is_bundle
from ..errors import ModelFormatError

if TYPE_CHECKING:
    from ..model_config import ModelConfig
    from .profiles import BoardProfile

_V = TypeVar("_V")

_BLOCK = 32
_SCALE_BYTES = 2  # fp16 in the engine's memory
BYTES_PER_PARAM: dict[str, float] = {
    "int4": 0.5 + _SCALE_BYTES / _BLOCK,
    "int8": 1.0 + _SCALE_BYTES / _BLOCK,
}
# q8: an int8 code per value and an f32 scale per 32 values of a head's row
KV_BYTES_PER_VALUE: dict[str, float] = {"f32": 4, "f16": 2, "q8": 1 + 4 / _BLOCK}
_MIB = 1024 * 1024


def _bytes_per_param(quant: str) -> float:
    return _known(BYTES_PER_PARAM, quant, "quantization")


def _kv_bytes_per_value(cache: str) -> float:
    return _known(KV_BYTES_PER_VALUE, cache, "KV cache type")


def _known(table: Mapping[str, _V], name: str, kind: str) -> _V:
    """table[name]; ValueError naming the kind and the known names if it has none."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(table)})") from None


def weight_bytes(params: int, quant: str) -> int:
    """Bytes of `params` weights quantized as `quant`, scales included."""
    return int(params * _bytes_per_param(quant))


def kv_cache_bytes(context: int, layers: int, kv_dim: int, cache: str) -> int:
    """Bytes of a KV cache for `context` positions (keys and values, every layer)."""
    return round(2 * layers * context * kv_dim * _kv_bytes_per_value(cache))


def memory_budget(profile: BoardProfile) -> int:
    """Bytes a model may use on the board: its RAM less the stated headroom."""
    return (profile.ram_mb - profile.headroom_mb) * _MIB


def fits(
    profile: BoardProfile, params: int, quant: str, context: int, layers: int, kv_dim: int
) -> bool:
    """Whether a model's weights plus its KV cache fit the board's RAM with headroom."""
    need = weight_bytes(params, quant) + kv_cache_bytes(context, layers, kv_dim, profile.kv_cache)
    return need <= memory_budget(profile)


def largest_params(
    profile: BoardProfile, quant: str, context: int, layers: int, kv_dim: int
) -> int:
    """The most parameters that fit the board at `quant` with a `context` KV cache (0: none)."""
    free = memory_budget(profile) - kv_cache_bytes(context, layers, kv_dim, profile.kv_cache)
    return max(0, int(free / _bytes_per_param(quant)))


def largest_context(
    profile: BoardProfile, params: int, quant: str, layers: int, kv_dim: int
) -> int:
    """The longest context whose KV cache fits beside the weights (0: the weights alone don't)."""
    free = memory_budget(profile) - weight_bytes(params, quant)
    per_position = kv_cache_bytes(1, layers, kv_dim, profile.kv_cache)
    return max(0, free // per_position)


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Llama-family model that decide its memory use."""

    params: int
    layers: int
    kv_dim: int  # key/value heads x head size
    max_context: int

    @classmethod
    def of(cls, model: Path) -> ModelShape:
        """The shape of a Hugging Face folder, a bundle folder or a GGUF file."""
        if model.is_dir() and not is_bundle(model):
            return cls.from_hf_config(model)
        from ..model_source import model_config

        return cls.from_config(model_config(model))

    @classmethod
    def from_hf_config(cls, model_dir: Path) -> ModelShape:
        """Read the shape from a model folder's Hugging Face `config.json`."""
        path = Path(model_dir) / "config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFormatError(f"{path}: no config.json in the model folder") from None
        except json.JSONDecodeError as e:
            raise ModelFormatError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None

        def size(key: str, default: int | None = None) -> int:
            value = config.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelFormatError(f"{path}: {key!r} must be a positive integer, got {value!r}")
            return value

        dim, heads = size("hidden_size"), size("num_attention_heads")
        return cls._sized(
            dim=dim,
            layers=size("num_hidden_layers"),
            heads=heads,
            kv_heads=size("num_key_value_heads", heads),
            head_dim=size("head_dim", dim // heads),
            vocab=size("vocab_size"),
            ffn=size("intermediate_size"),
            tied=bool(config.get("tie_word_embeddings", False)),
            max_context=size("max_position_embeddings"),
        )

    @classmethod
    def from_config(cls, config: ModelConfig) -> ModelShape:
        """The shape of a model whose configuration is already read and checked."""
        return cls._sized(
            dim=config.hidden_size,
            layers=config.num_hidden_layers,
            heads=config.num_attention_heads,
            kv_heads=config.num_key_value_heads,
            head_dim=config.head_dim,
            vocab=config.vocab_size,
            ffn=config.intermediate_size,
            tied=config.tie_word_embeddings,
            max_context=config.max_position_embeddings,
        )

    @classmethod
    def _sized(
        cls, *, dim: int, layers: int, heads: int, kv_heads: int, head_dim: int, vocab: int,
        ffn: int, tied: bool, max_context: int,
    ) -> ModelShape:  # fmt: skip
        attention = dim * head_dim * (2 * heads + 2 * kv_heads)  # q, o and k, v projections
        per_layer = attention + 3 * dim * ffn + 2 * dim  # gate/up/down and two norms
        embeddings = vocab * dim * (1 if tied else 2)
        return cls(
            params=layers * per_layer + embeddings + dim,
            layers=layers,
            kv_dim=kv_heads * head_dim,
            max_context=max_context,
        )
