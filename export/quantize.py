"""Weight quantization into the engine's block formats (csrc/kernels/formats.h),
which are onnxruntime's MatMulNBits inputs for block size 32:

    int8  uint8 codes [N, nb, 32]   value = (code - 128) * scale, codes 1..255
    int4  uint8 codes [N, nb, 16]   two codes per byte (even element in the low
                                    nibble), value = (code - 8) * scale
    scales float32 [N, nb], one per block of 32 along K; symmetric (no zero points)

Every scale is an fp16 value stored as float32: the engine keeps its block
scales as fp16 (fewer bytes streamed per token) and onnxruntime reads float32,
so a scale rounded to fp16 first, with the codes chosen against it, means the
same weights to both.

Methods:
    rtn   round to nearest, scale from the block's largest magnitude (the
          engine's own load-time quantizer, bit for bit);
    gptq  GPTQ (Frantar et al., 2022): columns are quantized in order and each
          one's rounding error is pushed onto the columns not yet quantized,
          weighted by the inverse Hessian of the layer's inputs, collected on
          calibration text. Scales are taken at each block's start from the
          already-corrected weights.

Why our own quantizer and not onnxruntime's MatMulNBitsQuantizer: its 8-bit
symmetric grid uses code 0 (-128 * scale), outside the engine's 1..255 (its
int8 kernels rely on |code - 128| <= 127), and its GPTQ calibrates by running
the whole f32 ONNX graph over past-key-value inputs for every layer, slower
than hooks on the torch model for the same algorithm. The output is the same
MatMulNBits node either way (see onnx_graph.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from .roles import linear_role

BLOCK = 32
BITS = {"int8": 8, "int4": 4}
METHODS = ("rtn", "gptq")
# GPTQ's damping: a fraction of the Hessian's mean diagonal added to it, so that
# directions the calibration text never excites stay invertible.
GPTQ_DAMPING = 0.01
# Columns updated together before the lazy batch update of the rest (speed only).
GPTQ_BATCH = 128


@dataclass(frozen=True)
class QuantizedMatrix:
    """A [rows, cols] matrix in MatMulNBits layout, symmetric (implied zero point)."""

    bits: int
    rows: int
    cols: int
    codes: np.ndarray  # uint8 [rows, nb, 32 * bits / 8]
    scales: np.ndarray  # float32 [rows, nb], each an fp16 value

    @property
    def zero_point(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def engine_format(self) -> str:
        return {8: "q8", 4: "q4"}[self.bits]

    def unpacked(self) -> np.ndarray:
        """Codes as uint8 [rows, nb * 32], one per element (padding included)."""
        if self.bits == 8:
            return self.codes.reshape(self.rows, -1)
        low, high = self.codes & 0x0F, self.codes >> 4
        return np.stack([low, high], axis=-1).reshape(self.rows, -1)

    def dequantize(self) -> np.ndarray:
        """float32 [rows, cols]: the values the quantized matrix stands for."""
        nb = self.scales.shape[1]
        q = self.unpacked().astype(np.float32) - self.zero_point
        w = q.reshape(self.rows, nb, BLOCK) * self.scales[:, :, None]
        return np.ascontiguousarray(w.reshape(self.rows, nb * BLOCK)[:, : self.cols])


def _block_scales(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scales of [rows, 32] blocks (any leading shape) and their inverses, computed
    as csrc/quantize.cpp does (so rounding ties fall the same way): int8 maps the
    largest magnitude to 127; int4 maps the signed extreme to -8, so the code
    range 0..15 is used in full on the side of the extreme. The scale is rounded
    to fp16 (to nearest, ties to even) and the inverse taken of the rounded one."""
    if bits == 8:
        scale = w.abs().amax(dim=-1) / 127.0
    else:
        idx = w.abs().argmax(dim=-1, keepdim=True)
        scale = torch.gather(w, -1, idx).squeeze(-1) / -8.0
    half = scale.to(torch.float16)
    if not torch.isfinite(half).all():
        raise ValueError(
            "weights too large for an fp16 block scale, the engine's scale format "
            "(int8 takes magnitudes below 8321040, int4 below 524160)"
        )
    scale = half.to(scale.dtype)
    # a true division: `1.0 / scale` would be scale.reciprocal() in torch
    inv = torch.where(scale != 0, torch.ones_like(scale).div(scale), torch.zeros_like(scale))
    return scale, inv


def _codes(w: torch.Tensor, inv: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer codes of w for the inverse scale inv (broadcast), clamped to the range."""
    q = torch.round(w * inv)  # half to even, like nearbyint
    if bits == 8:
        return q.clamp(-127, 127) + 128
    return (q + 8).clamp(0, 15)


def _pack(codes: torch.Tensor, bits: int, rows: int) -> np.ndarray:
    c = codes.to(torch.uint8).numpy().reshape(rows, -1, BLOCK)
    if bits == 8:
        return np.ascontiguousarray(c)
    return np.ascontiguousarray(c[:, :, 0::2] | (c[:, :, 1::2] << 4))


def _padded(w: torch.Tensor) -> torch.Tensor:
    """[rows, cols] -> [rows, nb * 32] with zeros in the last block's padding."""
    pad = -w.shape[1] % BLOCK
    return torch.nn.functional.pad(w, (0, pad)) if pad else w


def quantize_rtn(w: torch.Tensor | np.ndarray, bits: int) -> QuantizedMatrix:
    """Round-to-nearest quantization of a float [rows, cols] matrix."""
    w = torch.as_tensor(w, dtype=torch.float32)
    rows, cols = w.shape
    blocks = _padded(w).reshape(rows, -1, BLOCK)
    scales, inv = _block_scales(blocks, bits)
    codes = _codes(blocks, inv[..., None], bits)
    return QuantizedMatrix(bits, rows, cols, _pack(codes, bits, rows), scales.numpy().copy())


def quantize_gptq(w: torch.Tensor, hessian: torch.Tensor, bits: int) -> QuantizedMatrix:
    """GPTQ of a float [rows, cols] matrix given its inputs' Hessian X^T X [cols, cols]."""
    rows, cols = w.shape
    W = _padded(w.to(torch.float64)).clone()
    K = W.shape[1]
    H = torch.zeros(K, K, dtype=torch.float64)
    H[:cols, :cols] = hessian.to(torch.float64)
    dead = torch.diag(H) == 0  # inputs never seen (and the padding): weight irrelevant
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += GPTQ_DAMPING * torch.mean(torch.diag(H)) * torch.eye(K, dtype=torch.float64)
    # Upper Cholesky factor of H^-1: row i holds the update for columns after i.
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)

    codes = torch.zeros(rows, K, dtype=torch.float64)
    scales = torch.zeros(rows, K // BLOCK, dtype=torch.float64)
    inverses = torch.zeros(rows, K // BLOCK, dtype=torch.float64)
    for start in range(0, K, GPTQ_BATCH):
        end = min(start + GPTQ_BATCH, K)
        errors = torch.zeros(rows, end - start, dtype=torch.float64)
        for i in range(start, end):
            b = i // BLOCK
            if i % BLOCK == 0:
                scales[:, b], inverses[:, b] = _block_scales(W[:, i : i + BLOCK], bits)
            code = _codes(W[:, i], inverses[:, b], bits)
            value = (code - (1 << (bits - 1))) * scales[:, b]
            err = (W[:, i] - value) / Hinv[i, i]
            W[:, i + 1 : end] -= err[:, None] * Hinv[i, i + 1 : end][None, :]
            codes[:, i] = code
            errors[:, i - start] = err
        W[:, end:] -= errors @ Hinv[start:end, end:]
    return QuantizedMatrix(
        bits, rows, cols, _pack(codes, bits, rows), scales.to(torch.float32).numpy().copy()
    )


def collect_hessians(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    progress: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """X^T X of the inputs of every weight linear layer over the calibration batches
    (each a [1, T] tensor of token ids), keyed by role. The f32 model runs once."""
    hessians: dict[str, torch.Tensor] = {}

    def hook(role: str) -> Callable[..., None]:
        def accumulate(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _out) -> None:
            x = inputs[0].reshape(-1, inputs[0].shape[-1])
            xtx = (x.T @ x).to(torch.float64)  # f32 product, f64 sum over batches
            h = hessians.get(role)
            hessians[role] = xtx if h is None else h + xtx

        return accumulate

    handles = [
        module.register_forward_hook(hook(role))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and (role := linear_role(name)) is not None
    ]
    try:
        with torch.no_grad():
            for batch in batches:
                model(input_ids=batch, use_cache=False)
                if progress:
                    progress(1)
    finally:
        for h in handles:
            h.remove()
    return hessians


@dataclass(frozen=True)
class QuantizedWeights:
    """Every quantized matrix of a model: the linear layers and the lm_head by role,
    and the embedding table (int8 rows in both schemes: it is read one row per
    token, so its size costs memory, not bandwidth)."""

    quant: str
    method: str
    matrices: dict[str, QuantizedMatrix]
    embedding: QuantizedMatrix


def linear_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weight of every linear layer the export quantizes, by role."""
    return {
        role: module.weight.detach()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and (role := linear_role(name)) is not None
    }


def quantize_model(
    model: torch.nn.Module,
    quant: str,
    method: str,
    hessians: dict[str, torch.Tensor] | None = None,
    progress: Callable[[int], None] | None = None,
) -> QuantizedWeights:
    """Quantize every linear layer (lm_head included) of a HF causal LM.

    gptq needs the hessians from collect_hessians."""
    if quant not in BITS:
        raise ValueError(f"quant must be one of {sorted(BITS)}, got {quant!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "gptq" and hessians is None:
        raise ValueError("gptq needs the calibration Hessians (collect_hessians)")
    bits = BITS[quant]

    def quantize(role: str, w: torch.Tensor, method: str, bits: int) -> QuantizedMatrix:
        try:
            if method == "gptq":
                return quantize_gptq(w, hessians[role], bits)
            return quantize_rtn(w, bits)
        except ValueError as e:  # weights beyond fp16 scales: say which matrix
            raise ValueError(f"{role}: {e}") from None

    matrices = {}
    for role, w in linear_weights(model).items():
        matrices[role] = quantize(role, w, method, bits)
        if progress:
            progress(1)
    embedding = quantize("embedding", model.get_input_embeddings().weight.detach(), "rtn", 8)
    return QuantizedWeights(quant, method, matrices, embedding)
