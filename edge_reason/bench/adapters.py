"""Backends as the benchmark sees them: load, then prefill + decode with timings.

`native`, `onnxruntime` and `tflite` all run through edge_reason.Engine (the
last two on a bundle); `llama.cpp` and `torch` are the outside baselines,
imported only when asked for.
"""

from __future__ import annotations

from typing import Protocol


class BenchBackend(Protocol):
    vocab_size: int
    bytes_per_token: int  # weight bytes one decode step reads (0 if unknown)

    def run(self, prompt: list[int], gen_tokens: int) -> tuple[float, float, int]:
        """Prefill `prompt`, decode `gen_tokens` greedily: (prefill s, decode s, tokens decoded)."""
        ...


class EngineBackend:
    def __init__(self, backend: str, path: str, quant: str, threads: int, max_context: int) -> None:
        from ..engine import Engine
        from . import FILE_QUANT

        kwargs = {"backend": backend} if backend != "native" else {}
        self.engine = Engine.load(
            path,
            quant=None if quant == FILE_QUANT else quant,
            threads=threads,
            max_context=max_context,
            **kwargs,
        )
        self.vocab_size = self.engine.config.vocab_size
        self.bytes_per_token = int(self.engine.info().get("weight_bytes_per_token", 0))

    def run(
        self, prompt: list[int], gen_tokens: int, speculative: str | None = None
    ) -> tuple[float, float, int]:
        g = self.engine.generate(prompt, max_new_tokens=gen_tokens + 1, speculative=speculative)
        # The first sampled token comes from the prefill's logits: decode time
        # covers the gen_tokens steps after it.
        return g.stats.prefill_seconds, g.stats.decode_seconds, max(1, g.stats.generated_tokens - 1)

    def run_batch(self, prompts: list[list[int]], gen_tokens: int) -> tuple[float, float, int]:
        """Prefill every prompt (one after another), then decode `gen_tokens` greedily after
        each, all together: (prefill s summed, wall time of the batched decode, tokens
        decoded by all the sequences, none counting the first, which the prefill gives)."""
        gs = self.engine.generate_batch(prompts, max_new_tokens=gen_tokens + 1)
        prefill_s = sum(g.stats.prefill_seconds for g in gs)
        # each sequence's decode_seconds runs from the batch's start of decoding to its end
        decode_s = max(g.stats.decode_seconds for g in gs)
        return prefill_s, decode_s, max(1, sum(g.stats.generated_tokens - 1 for g in gs))


def open_backend(
    name: str, path: str, *, quant: str, threads: int, max_context: int
) -> BenchBackend:
    if name in ("native", "onnxruntime", "tflite"):
        return EngineBackend(name, path, quant, threads, max_context)
    if name == "llama.cpp":  # path: a GGUF file already in the quantization asked for
        from .llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(path, threads, max_context)
    if name == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(path, quant, threads)
    raise ValueError(f"unknown backend {name!r}")
