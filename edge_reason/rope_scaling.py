"""config.json's `rope_scaling`, read into one typed description per RoPE type.

The types and their fields follow transformers 4.57 (modeling_rope_utils.py),
including its defaults and fall-backs; edge_reason/rope.py turns them into the
engine's rotation tables. A missing or malformed field is refused by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ModelFormatError


@dataclass(frozen=True)
class LinearScaling:
    """Every frequency divided by `factor` (position interpolation)."""

    factor: float


@dataclass(frozen=True)
class DynamicScaling:
    """NTK-aware scaling whose base grows with the sequence length past
    `max_position_embeddings` (config.max_position_embeddings: transformers
    4.57 ignores an original_max_position_embeddings given here)."""

    factor: float
    max_position_embeddings: int


@dataclass(frozen=True)
class YarnScaling:
    """YaRN: frequencies blended between interpolated and original along a
    ramp over the dimensions, and cos/sin multiplied by `attention_factor`."""

    factor: float
    original_max_position_embeddings: int
    attention_factor: float  # resolved from mscale / mscale_all_dim if not given
    beta_fast: float
    beta_slow: float
    truncate: bool


@dataclass(frozen=True)
class Llama3Scaling:
    """Llama 3: long wavelengths slowed by `factor`, short ones kept, a smooth blend between."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


RopeScaling = LinearScaling | DynamicScaling | YarnScaling | Llama3Scaling

ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3")


def parse_rope_scaling(raw: Any, max_position_embeddings: int, where: str) -> RopeScaling | None:
    """The description of config.json's rope_scaling (None: plain RoPE)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ModelFormatError(f"{where}: rope_scaling must be an object or null")
    kind = raw.get("rope_type", raw.get("type"))
    if kind not in ROPE_TYPES:
        raise ModelFormatError(
            f"{where}: rope_scaling type {kind!r} is not supported "
            f"(supported: {', '.join(repr(t) for t in ROPE_TYPES)})"
        )
    if kind == "default":
        return None
    fields = _Fields(raw, f"{where}: rope_scaling ({kind})")
    if kind == "linear":
        return LinearScaling(factor=fields.factor(minimum=1.0))
    if kind == "dynamic":
        return DynamicScaling(
            factor=fields.factor(minimum=1.0), max_position_embeddings=max_position_embeddings
        )
    if kind == "yarn":
        return _yarn(fields, max_position_embeddings)
    scaling = Llama3Scaling(
        factor=fields.factor(minimum=0.0),
        low_freq_factor=fields.number("low_freq_factor"),
        high_freq_factor=fields.number("high_freq_factor"),
        original_max_position_embeddings=fields.positive_int("original_max_position_embeddings"),
    )
    if not scaling.high_freq_factor > scaling.low_freq_factor > 0:
        raise ModelFormatError(
            f"{fields.where}: needs high_freq_factor > low_freq_factor > 0, got {raw!r}"
        )
    return scaling


def _yarn(fields: _Fields, max_position_embeddings: int) -> YarnScaling:
    factor = fields.factor(minimum=1.0)
    attention_factor = fields.number("attention_factor", default=None)
    if attention_factor is None:
        mscale = fields.number("mscale", default=None)
        mscale_all_dim = fields.number("mscale_all_dim", default=None)
        # The YaRN paper's 0.1 ln(s) + 1, or DeepSeek's ratio of two such terms.
        if mscale and mscale_all_dim:
            attention_factor = _yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim)
        else:
            attention_factor = _yarn_mscale(factor, 1.0)
    elif attention_factor <= 0:
        raise ModelFormatError(f"{fields.where}: attention_factor must be positive")
    # transformers treats null and 0 like absent here (`or` defaults).
    beta_fast = fields.number("beta_fast", default=None) or 32.0
    beta_slow = fields.number("beta_slow", default=None) or 1.0
    if beta_fast < beta_slow:
        raise ModelFormatError(
            f"{fields.where}: beta_fast ({beta_fast}) must not be below beta_slow ({beta_slow})"
        )
    original = fields.positive_int("original_max_position_embeddings", default=None)
    truncate = fields.raw.get("truncate", True)
    if not isinstance(truncate, bool):
        raise ModelFormatError(f"{fields.where}: truncate must be true or false, got {truncate!r}")
    return YarnScaling(
        factor=factor,
        original_max_position_embeddings=original or max_position_embeddings,
        attention_factor=float(attention_factor),
        beta_fast=beta_fast,
        beta_slow=beta_slow,
        truncate=truncate,
    )


def _yarn_mscale(scale: float, mscale: float) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


_MISSING = object()


class _Fields:
    """Typed reads of rope_scaling's fields, each error naming the field."""

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        """The field's value, or default; an error if there is neither."""
        value = self.raw.get(key, default)
        if value is _MISSING:
            raise ModelFormatError(f"{self.where}: field {key!r} is missing")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelFormatError(f"{self.where}: field {key!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ModelFormatError(f"{self.where}: field {key!r} must be finite, got {value!r}")
        return float(value)

    def factor(self, minimum: float) -> float:
        value = self.number("factor")
        if value < minimum or value <= 0:
            bound = f">= {minimum:g}" if minimum > 0 else "> 0"
            raise ModelFormatError(f"{self.where}: field 'factor' must be {bound}, got {value!r}")
        return value

    def positive_int(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ModelFormatError(
                f"{self.where}: field {key!r} must be a positive integer, got {value!r}"
            )
        return value
