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
    # int8 blocks whose values sit exactly half a step between two codes of
    # their fp16 scale d: w / d and w * (1 / d) (the engine's, with a rounded
    # inverse) round such ties apart ~1 time in 16
    rng = np.random.default_rng(1)
    d = rng.uniform(0.004, 0.03, size=(300, 1)).astype(np.float16).astype(np.float32)
    k = rng.integers(-120, 120, size=(300, 31)).astype(np.float32)
    w = np.concatenate([127 * d, (k + 0.5) * d], axis=1)
    data, scales = _native.quantize(w, "q8")
    assert np.array_equal(scales, d)
    assert np.array_equal(quantize_rtn(w, 8).codes, data.reshape(300, 1, 32))


@pytest.mark.parametrize(("fmt", "bits", "largest"), [("q8", 8, 8321040.0), ("q4", 4, 524160.0)])
def test_scales_are_fp16_values_and_beyond_fp16_is_refused(fmt, bits, largest):
    # float32 scales that fp16 holds exactly, subnormal ones included, and codes
    # chosen against them; a block whose scale fp16 cannot hold (from `largest`
    # on, where the scale rounds to infinity) is an error, not an infinite scale
    w = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    w[1] *= np.float32(1e-4)  # scales of ~2e-6 (q8) and ~3e-5 (q4): fp16 subnormals
    w[2, 0] = np.nextafter(np.float32(largest), np.float32(0))
    data, scales = _native.quantize(w, fmt)
    assert np.array_equal(scales.astype(np.float16).astype(np.float32), scales)
    assert np.abs(scales[1]).max() < 2.0**-14 and np.all(scales[1] != 0)
    q = quantize_rtn(w, bits)
    assert np.array_equal(q.scales, scales)
    assert np.array_equal(q.codes, data.reshape(q.codes.shape))
    w[2, 0] = largest
    with pytest.raises(ValueError, match="too large for an fp16 block scale"):
        _native.quantize(w, fmt)
    with pytest.raises(ValueError, match="too large for an fp16 block scale"):
        quantize_rtn(w, bits)


def test_gptq_lowers_the_output_error_on_correlated_inputs():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(80, 80, generator=g)
    x = torch.randn(2000, 80, generator=g) @ mix  # strongly correlated inputs
    w = torch.randn(24, 80, generator=g)
    hessian = x.T @ x

    def output_error(q) -> float:
        return float(((x @ (w - torch.from_numpy(q.dequantize())).T) ** 2).mean())

    assert output_error(quantize_gptq(w, hessian, 4)) < 0.8 * output_error(quantize_rtn(w, 4))
