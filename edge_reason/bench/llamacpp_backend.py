"""llama.cpp as a benchmark baseline, through llama-cpp-python's C-level bindings.

The timed loop calls llama_decode and a greedy llama_sampler directly, one C
call each per token, so the measurement holds llama.cpp's work and almost no
Python: the same boundary as the native engine's generate loop. Settings are
llama.cpp's defaults (f16 KV cache, memory-mapped weights) except the thread
count, a context of `max_context` tokens, and a batch of `max_context` tokens,
so a whole prompt is one llama_decode call.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np


def gguf_bytes_per_token(path: str | Path) -> int:
    """Weight bytes one decode step reads: every matrix, with the output head
    (token_embd when the head is tied) and without the embedding table, whose
    one row per token does not count; the native engine counts the same way."""
    from gguf import GGUFReader

    tensors = {t.name: t for t in GGUFReader(path).tensors}
    skip = {"token_embd.weight"} if "output.weight" in tensors else set()
    return sum(
        int(t.n_bytes)
        for name, t in tensors.items()
        if name not in skip and sum(int(n) > 1 for n in t.shape) == 2
    )


class LlamaCppBackend:
    """A GGUF file loaded into one llama.cpp context."""

    def __init__(self, path: str, threads: int, max_context: int) -> None:
        import llama_cpp as lc

        # llama-cpp-python prints llama.cpp's load log to stderr unless told otherwise.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        self._lc = lc
        lc.llama_backend_init()
        self._model = lc.llama_model_load_from_file(
            str(path).encode(), lc.llama_model_default_params()
        )
        if not self._model:
            raise RuntimeError(f"{path}: llama.cpp could not load this GGUF file")
        params = lc.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = max_context
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise RuntimeError(f"{path}: llama.cpp could not create a context")
        self._sampler = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        lc.llama_sampler_chain_add(self._sampler, lc.llama_sampler_init_greedy())
        self.vocab_size = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(self._model))
        self.max_context = max_context
        self._path = path

    @functools.cached_property
    def bytes_per_token(self) -> int:
        # Read when asked (after the timed runs): parsing a large vocabulary's
        # metadata in Python takes seconds that are not llama.cpp's load time.
        return gguf_bytes_per_token(self._path)

    def _decode(self, tokens: list[int]) -> int:
        """Append `tokens` to the sequence and pick the next token greedily."""
        lc = self._lc
        ids = (lc.llama_token * len(tokens))(*tokens)
        status = lc.llama_decode(self._ctx, lc.llama_batch_get_one(ids, len(tokens)))
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")
        return lc.llama_sampler_sample(self._sampler, self._ctx, -1)

    def run(self, prompt: list[int], gen_tokens: int) -> tuple[float, float, int]:
        """Prefill `prompt`, decode `gen_tokens` greedily: (prefill s, decode s, tokens decoded)."""
        if len(prompt) + gen_tokens > self.max_context:
            raise ValueError(
                f"{len(prompt)} prompt + {gen_tokens} generated tokens exceed "
                f"the context of {self.max_context}"
            )
        lc = self._lc
        lc.llama_memory_clear(lc.llama_get_memory(self._ctx), True)
        t0 = time.perf_counter()
        token = self._decode(prompt)
        t1 = time.perf_counter()
        for _ in range(gen_tokens):
            token = self._decode([token])
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, gen_tokens

    def greedy(self, prompt: list[int], gen_tokens: int) -> list[int]:
        """The `gen_tokens` tokens llama.cpp picks greedily after `prompt`."""
        lc = self._lc
        lc.llama_memory_clear(lc.llama_get_memory(self._ctx), True)
        tokens = [self._decode(prompt)]
        while len(tokens) < gen_tokens:
            tokens.append(self._decode([tokens[-1]]))
        return tokens

    def tokenize(self, text: str, *, add_special: bool = False, special: bool = True) -> list[int]:
        """llama.cpp's tokenization of `text` (special: match special tokens' text)."""
        lc = self._lc
        data = text.encode()
        capacity = len(data) + 8
        ids = (lc.llama_token * capacity)()
        vocab = lc.llama_model_get_vocab(self._model)
        n = lc.llama_tokenize(vocab, data, len(data), ids, capacity, add_special, special)
        if n < 0:
            raise RuntimeError(f"llama_tokenize needs room for {-n} tokens")
        return list(ids[:n])

    def logits(self, tokens: list[int]) -> np.ndarray:
        """Float32 [len(tokens), vocab]: the next-token logits after each token, from a
        fresh sequence (what the converter's tests compare with the native engine)."""
        lc = self._lc
        lc.llama_memory_clear(lc.llama_get_memory(self._ctx), True)
        batch = lc.llama_batch_init(len(tokens), 0, 1)
        try:
            for i, t in enumerate(tokens):
                batch.token[i] = t
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = True
            batch.n_tokens = len(tokens)
            status = lc.llama_decode(self._ctx, batch)
            if status != 0:
                raise RuntimeError(f"llama_decode failed with status {status}")
            return np.stack(
                [
                    np.ctypeslib.as_array(lc.llama_get_logits_ith(self._ctx, i), (self.vocab_size,))
                    for i in range(len(tokens))
                ]
            )
        finally:
            lc.llama_batch_free(batch)

    def close(self) -> None:
        lc = self._lc
        lc.llama_sampler_free(self._sampler)
        lc.llama_free(self._ctx)
        lc.llama_model_free(self._model)
