"""int8 and int4 engine vs transformers running the same quantized arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.hf_models import load_reference
from helpers.quant_reference import quantize_like_engine

from edge_reason import Engine


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_logits_match_reference(model_dirs, arch, quant) -> None:
    ids = np.random.default_rng(3).integers(1, 320, size=37).tolist()
    engine = Engine.load(model_dirs[arch], quant=quant, threads=2)
    got = engine.logits(ids)
    with torch.no_grad():
        f32 = load_reference(model_dirs[arch])(torch.tensor([ids])).logits[0].numpy()
        ref = quantize_like_engine(load_reference(model_dirs[arch]), quant)
        want = ref(torch.tensor([ids])).logits[0].numpy()
    scale = want.std()
    diff = np.abs(got - want)
    # Same arithmetic up to float summation order, which alone moves logits by
    # about 1e-6 of their spread. But where such a last-bit difference sits on
    # a rounding boundary, one activation code flips (a step of max|x|/127 in
    # one element); measured here, that moves the logits of its token, and of
    # every later token that attends to it, by up to about 4% of the spread.
    # So: no element may move by more than 5% of the spread, and on average
    # the difference must stay well below one such flip.
    assert diff.max() <= 5e-2 * scale, diff.max() / scale
    assert diff.mean() <= 5e-3 * scale, diff.mean() / scale
    rel_rms = float(np.sqrt(np.mean((got - f32) ** 2)) / np.sqrt(np.mean(f32**2)))
    print(f"{arch} {quant}: relative RMS error vs f32 = {rel_rms:.4f}")
    assert rel_rms < (0.05 if quant == "int8" else 0.35)
