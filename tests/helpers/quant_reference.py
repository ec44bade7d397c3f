"""The quantized engine's arithmetic, replayed in transformers.

Each Linear gets the engine's dequantized weights and a pre-hook that
quantizes its input per block of 32 exactly as csrc/kernels/scalar.cpp does
(scale max|x|/127, round half to even). What remains between this reference
and the engine is float summation order, plus the rare activation code that
flips because an upstream float differs in its last bits.
"""

from __future__ import annotations

import numpy as np
import torch

from edge_reason import _native

BLOCK = 32


def dequantize(data: np.ndarray, scales: np.ndarray, fmt: str, cols: int) -> np.ndarray:
    rows, blocks = scales.shape
    if fmt == "q8":
        values = data.reshape(rows, blocks, BLOCK).astype(np.float32) - 128.0
    else:
        packed = data.reshape(rows, blocks, BLOCK // 2)
        codes = np.empty((rows, blocks, BLOCK), dtype=np.float32)
        codes[:, :, 0::2] = packed & 0x0F
        codes[:, :, 1::2] = packed >> 4
        values = codes - 8.0
    return (values * scales[:, :, None]).reshape(rows, blocks * BLOCK)[:, :cols]


def fake_quantize(w: torch.Tensor, fmt: str) -> torch.Tensor:
    data, scales = _native.quantize(w.detach().float().contiguous().numpy(), fmt)
    return torch.from_numpy(dequantize(data, scales, fmt, w.shape[1]))


def quantize_activations(x: torch.Tensor) -> torch.Tensor:
    k = x.shape[-1]
    pad = (-k) % BLOCK
    xb = torch.nn.functional.pad(x, (0, pad)).reshape(*x.shape[:-1], -1, BLOCK)
    amax = xb.abs().amax(dim=-1, keepdim=True)
    inv = torch.where(amax > 0, torch.tensor(127.0) / amax, torch.zeros_like(amax))
    q = torch.round(xb * inv)
    return (q * (amax / 127.0)).reshape(*x.shape[:-1], -1)[..., :k]


def quantize_like_engine(model: torch.nn.Module, quant: str) -> torch.nn.Module:
    """Turn a float32 transformers model into the engine's `quant` arithmetic, in place."""
    fmt = {"int8": "q8", "int4": "q4"}[quant]
    embed = model.get_input_embeddings()
    head = model.get_output_embeddings()
    with torch.no_grad():
        head_weight = fake_quantize(head.weight, fmt)
        embed.weight = torch.nn.Parameter(fake_quantize(embed.weight, "q8"))
        head.weight = torch.nn.Parameter(head_weight)  # unties a tied head
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module is not head:
                module.weight.copy_(fake_quantize(module.weight, fmt))
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_pre_hook(lambda _m, args: (quantize_activations(args[0]),))
    return model
