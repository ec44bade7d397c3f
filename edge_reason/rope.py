"""RoPE rotation tables, computed as Hugging Face transformers computes them.

The frequencies are float32 throughout, like the reference, so the engine's
rotations match it to the last bit or two rather than to a double-precision
ideal the reference does not use.

The engine reads one table row per position, so every scaling is expressed
per position. For all types but `dynamic` the frequencies are the same at
every position. `dynamic` (NTK) is what transformers computes when it runs a
sequence one token at a time with a cache: the query and key of position p
are rotated with the frequencies of a sequence of max(p + 1,
max_position_embeddings) tokens, and cached keys keep the rotation they were
stored with. Positions below max_position_embeddings are unscaled, as in
transformers. One forward call of transformers over a whole sequence of L >
max_position_embeddings tokens instead rotates every position with the
frequencies of length L; the engine's prefill of such a prompt differs from
that (it equals transformers' cached decode of the same tokens).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .model_config import ModelConfig
from .rope_scaling import DynamicScaling, LinearScaling, Llama3Scaling, YarnScaling


def _exponents(dim: int) -> np.ndarray:
    return np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)


def _plain(theta: float, dim: int) -> np.ndarray:
    return (np.float32(1.0) / (np.float32(theta) ** _exponents(dim))).astype(np.float32)


def inverse_frequencies(config: ModelConfig) -> np.ndarray:
    """[head_dim / 2] float32; for `dynamic`, those of the unscaled positions."""
    dim = config.head_dim
    inv = _plain(config.rope_theta, dim)
    s = config.rope_scaling
    if isinstance(s, LinearScaling):
        return (inv / np.float32(s.factor)).astype(np.float32)
    if isinstance(s, YarnScaling):
        return _yarn(s, config.rope_theta, dim)
    if isinstance(s, Llama3Scaling):
        return _llama3(s, inv)
    return inv


def _llama3(s: Llama3Scaling, inv: np.ndarray) -> np.ndarray:
    old = s.original_max_position_embeddings
    low_wavelen = old / s.low_freq_factor
    high_wavelen = old / s.high_freq_factor
    wavelen = (2 * math.pi / inv).astype(np.float32)
    scaled = np.where(wavelen > low_wavelen, inv / np.float32(s.factor), inv).astype(np.float32)
    smooth = (
        (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
    ).astype(np.float32)
    smoothed = ((1 - smooth) * scaled / np.float32(s.factor) + smooth * scaled).astype(np.float32)
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn(s: YarnScaling, theta: float, dim: int) -> np.ndarray:
    # The dimensions that turn fewer than beta_slow times over the original
    # context are interpolated, those that turn more than beta_fast times are
    # kept, with a linear ramp between.
    def correction_dim(rotations: float) -> float:
        old = s.original_max_position_embeddings
        return (dim * math.log(old / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(s.beta_fast), correction_dim(s.beta_slow)
    if s.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as transformers: avoids dividing by zero
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1)
    keep = (1 - ramp).astype(np.float32)
    powers = (np.float32(theta) ** _exponents(dim)).astype(np.float32)
    extrapolated = (np.float32(1.0) / powers).astype(np.float32)
    interpolated = (np.float32(1.0) / (np.float32(s.factor) * powers)).astype(np.float32)
    return (interpolated * (1 - keep) + extrapolated * keep).astype(np.float32)


def _dynamic_frequencies(config: ModelConfig, s: DynamicScaling, positions: int) -> np.ndarray:
    """[positions, head_dim / 2]: position p's at the length max(p + 1, limit)."""
    dim, limit = config.head_dim, s.max_position_embeddings
    inv = np.broadcast_to(_plain(config.rope_theta, dim), (positions, dim // 2)).copy()
    if positions > limit:
        # transformers computes the grown base in float32 tensor arithmetic.
        length = np.arange(limit + 1, positions + 1, dtype=np.float32)
        f = np.float32(s.factor)
        growth = (f * length / np.float32(limit) - np.float32(s.factor - 1)).astype(np.float32)
        base = (np.float32(config.rope_theta) * growth ** np.float32(dim / (dim - 2))).astype(
            np.float32
        )
        inv[limit:] = np.float32(1.0) / (base[:, None] ** _exponents(dim)[None, :])
    return inv


def rope_tables(
    config: ModelConfig, positions: int, divisors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, each float32 [positions, head_dim / 2].

    `divisors` (one per frequency) divide the frequencies after the config's
    scaling: a GGUF file's rope_freqs tensor, which carries Llama-3 scaling.
    YaRN's attention factor multiplies cos and sin, as transformers multiplies
    its own: q and k each carry it, so attention logits carry its square.
    """
    s = config.rope_scaling
    if isinstance(s, DynamicScaling):
        inv = _dynamic_frequencies(config, s, positions)
    else:
        inv = inverse_frequencies(config)[None, :]
    if divisors is not None:
        inv = (inv / divisors).astype(np.float32)
    angles = np.arange(positions, dtype=np.float32)[:, None] * inv
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    if isinstance(s, YarnScaling):
        cos *= np.float32(s.attention_factor)
        sin *= np.float32(s.attention_factor)
    return cos, sin


def local_rope_tables(config: ModelConfig, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """The tables of the sliding-window layers (Gemma 3): rope_local_theta, unscaled."""
    if config.rope_local_theta is None:
        raise ValueError(f"{config.architecture} has no local RoPE base")
    local = dataclasses.replace(config, rope_theta=config.rope_local_theta, rope_scaling=None)
    return rope_tables(local, positions)
