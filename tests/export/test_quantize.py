"""The export's quantizer against the engine's formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edge_reason.export.quantize import quantize_gptq, quantize_rtn

from edge_reason import _native


@pytest.mark.parametrize(("fmt", "bits"), [("q8", 8), ("q4", 4)])
def test_rtn_is_the_engines_quantizer_bit_for_bit(fmt, bits):
    # K = 333: a partial last block
    w = np.random.default_rng(0).standard_normal((300, 333)).astype(np.float32)
    data, scales = _native.quantize(w, fmt)
    q = quantize_rtn(w, bits)
    assert np.array_equal(q.codes, data.reshape(q.codes.shape))
    assert np.array_equal(q.scales, scales)
    # half a step of rounding, or one step where int4 clamps +8 (the side
    # opposite the extreme) to code 15
    step = np.abs(q.scales).max(axis=1, keepdims=True)
    assert np.all(np.abs(q.dequantize() - w) <= step * (1.0 if bits == 4 else 0.5) + 1e-6)


def test_rtn_rounds_ties_like_the_engine():
    # int8 blocks whose values sit half a step between two codes: w * (1 / d) and
    # w * (127 / max) (the engine's inverse) round such ties apart ~1 time in 10
    rng = np.random.default_rng(1)
    extreme = rng.uniform(0.5, 4, size=(300, 1)).astype(np.float32)
    k = rng.integers(-120, 120, size=(300, 31)).astype(np.float32)
    w = np.concatenate([extreme, (k + 0.5) * extreme / np.float32(127)], axis=1)
    data, _ = _native.quantize(w, "q8")
    assert np.array_equal(quantize_rtn(w, 8).codes, data.reshape(300, 1, 32))


def test_gptq_lowers_the_output_error_on_correlated_inputs():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(80, 80, generator=g)
    x = torch.randn(2000, 80, generator=g) @ mix  # strongly correlated inputs
    w = torch.randn(24, 80, generator=g)
    hessian = x.T @ x

    def output_error(q) -> float:
        return float(((x @ (w - torch.from_numpy(q.dequantize())).T) ** 2).mean())

    assert output_error(quantize_gptq(w, hessian, 4)) < 0.8 * output_error(quantize_rtn(w, 4))
