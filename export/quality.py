"""How much quantization changes a model: measured against the f32 model on
held-out text, with the quantized weights substituted into the torch model.

Per variant: mean KL(f32 || quantized) of the next-token distributions, top-1
agreement of the two argmaxes, and the perplexity of both on the text. The
measurement isolates the weights (activations stay f32); the engines add their
own int8 activation rounding on top, which tests/export bounds separately.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .quantize import QuantizedWeights
from .roles import linear_role


def dequantized(q: QuantizedWeights, *, f32_head: bool) -> dict[str, torch.Tensor]:
    """Role -> the float weights q stands for ("embedding" included); the output
    head left out (so it stays f32) if f32_head."""
    weights = {
        role: torch.from_numpy(m.dequantize())
        for role, m in q.matrices.items()
        if not (f32_head and role == "lm_head")
    }
    weights["embedding"] = torch.from_numpy(q.embedding.dequantize())
    return weights


@contextmanager
def substituted(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> Iterator[None]:
    """Run `model` with `weights` (by role) in place of its own.

    Modules get new Parameter objects and their originals back afterwards, so a
    tied embedding/lm_head pair is untied only while inside."""
    swapped: list[tuple[torch.nn.Module, torch.nn.Parameter]] = []

    def swap(module: torch.nn.Module, values: torch.Tensor) -> None:
        swapped.append((module, module.weight))
        module.weight = torch.nn.Parameter(values, requires_grad=False)

    try:
        for name, module in model.named_modules():
            role = linear_role(name) if isinstance(module, torch.nn.Linear) else None
            if role in weights:
                swap(module, weights[role])
        swap(model.get_input_embeddings(), weights["embedding"])
        yield
    finally:
        for module, original in reversed(swapped):
            module.weight = original


class Agreement:
    """Accumulates the comparison of quantized logits with the reference, position
    by position, over many sequences."""

    def __init__(self) -> None:
        self.kl = self.agree = self.nll_ref = self.nll_q = 0.0
        self.positions = self.targets = 0

    def add(self, ref: torch.Tensor, q: torch.Tensor, ids: torch.Tensor) -> None:
        log_p, log_q = torch.log_softmax(ref.double(), -1), torch.log_softmax(q.double(), -1)
        self.kl += float((log_p.exp() * (log_p - log_q)).sum())
        self.agree += float((ref.argmax(-1) == q.argmax(-1)).sum())
        self.positions += ref.shape[0]
        nxt = ids[0, 1:, None]
        self.nll_ref -= float(log_p[:-1].gather(1, nxt).sum())
        self.nll_q -= float(log_q[:-1].gather(1, nxt).sum())
        self.targets += int(nxt.numel())

    def result(self) -> dict[str, float]:
        ppl_ref = math.exp(self.nll_ref / self.targets)
        ppl_q = math.exp(self.nll_q / self.targets)
        return {
            "mean_kl": self.kl / self.positions,
            "top1_agreement": self.agree / self.positions,
            "perplexity": ppl_q,
            "perplexity_f32": ppl_ref,
            "perplexity_delta": ppl_q - ppl_ref,
        }


def quality_report(
    model: torch.nn.Module,
    chosen: QuantizedWeights,
    rtn: QuantizedWeights,
    held_out: list[torch.Tensor],
) -> dict[str, Any]:
    """The bundle's quality section: the chosen method, the same with an f32 output
    head (what quantizing the head costs), and round-to-nearest for comparison."""
    variants = {
        chosen.method: dequantized(chosen, f32_head=False),
        f"{chosen.method}_f32_head": dequantized(chosen, f32_head=True),
    }
    if chosen.method != "rtn":
        variants["rtn"] = dequantized(rtn, f32_head=False)
    agreement = {name: Agreement() for name in variants}
    with torch.no_grad():
        # sequence by sequence: a large vocabulary's logits do not fit in memory at once
        for ids in held_out:
            reference = model(input_ids=ids, use_cache=False).logits[0]
            for name, weights in variants.items():
                with substituted(model, weights):
                    logits = model(input_ids=ids, use_cache=False).logits[0]
                agreement[name].add(reference, logits, ids)
    return {
        "reference": "f32",
        "held_out_tokens": sum(int(s.numel()) for s in held_out),
        "weights_only": True,
        "variants": {name: a.result() for name, a in agreement.items()},
    }
