"""PyTorch eager as a benchmark baseline: the transformers model, run step by step.

quant "f32": the model as transformers builds it, in float32.
quant "int8": torch's dynamic quantization (torch.ao.quantization.quantize_dynamic
over every nn.Linear, the output head included): int8 weights with one scale
per tensor, activations quantized on the fly per call, fbgemm/onednn int8
matmuls. (PyTorch marks this API deprecated in favour of torchao, whose CPU
int8 paths need torch.compile to be fast, which is no longer "eager".)
There is no int4 eager CPU path to compare with.

The timed loop is the model's forward with a KV cache and a greedy argmax, as
transformers' generate runs it, without generate's per-step bookkeeping.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

QUANTS = ("f32", "int8")


def linear_weight_bytes(model: Any) -> int:
    """Bytes of every Linear weight (the output head included): what one decode step reads."""
    import torch

    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
        elif isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            total += module.weight().numel()  # one byte per int8 weight
    return total


class TorchBackend:
    """A Hugging Face model folder in PyTorch eager mode."""

    def __init__(self, path: str | Path, quant: str, threads: int) -> None:
        import torch
        import transformers

        if quant not in QUANTS:
            raise ValueError(f"torch eager runs quant {' or '.join(QUANTS)}, not {quant!r}")
        torch.set_num_threads(threads)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, attn_implementation="sdpa"
        ).eval()
        if quant == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the deprecation notice, once per Linear
                model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
        self._torch = torch
        self._model = model
        self.vocab_size = model.config.vocab_size
        self.bytes_per_token = linear_weight_bytes(model)

    def run(self, prompt: list[int], gen_tokens: int) -> tuple[float, float, int]:
        """Prefill `prompt`, decode `gen_tokens` greedily: (prefill s, decode s, tokens decoded)."""
        torch = self._torch
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = self._model(torch.tensor([prompt]), use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            t1 = time.perf_counter()
            for _ in range(gen_tokens):
                out = self._model(token, past_key_values=out.past_key_values, use_cache=True)
                token = out.logits[:, -1].argmax(-1, keepdim=True)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, gen_tokens
