"""RoPE rotation tables, computed as Hugging Face transformers computes them.

The frequencies are float32 throughout, like the reference, so the engine's
rotations match it to the last bit or two rather than to a double-precision
ideal the reference does not use.
"""

from __future__ import annotations

import math

import numpy as np

from .model_config import ModelConfig


def inverse_frequencies(config: ModelConfig) -> np.ndarray:
    dim = config.head_dim
    exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    inv = (np.float32(1.0) / (np.float32(config.rope_theta) ** exponents)).astype(np.float32)
    s = config.rope_scaling
    if s is None:
        return inv
    # Llama 3: long wavelengths slowed by `factor`, short ones kept, and a
    # smooth blend between the two thresholds.
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


def rope_tables(config: ModelConfig, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, each float32 [positions, head_dim / 2]."""
    inv = inverse_frequencies(config)
    angles = np.arange(positions, dtype=np.float32)[:, None] * inv[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
