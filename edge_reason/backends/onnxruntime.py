"""The Engine's Backend on onnxruntime: a bundle's model.onnx on the CPU provider.

The KV cache is the graph's past_key_values inputs and present outputs, kept as
numpy arrays [1, kv_heads, position, head_dim] between calls; rewinding slices
them. Sampling is the native engine's sampler, so both backends draw the same
tokens from the same logits and seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .. import _native
from ..bundle import ONNX_FILE, Bundle
from ..model_config import ModelConfig
from .sampling import SamplesLastLogits


class OnnxRuntimeBackend(SamplesLastLogits):
    """One token sequence run through an onnxruntime InferenceSession."""

    def __init__(self, model_path: Path, config: ModelConfig, threads: int, max_context: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._config = config
        self._threads = threads
        self._max_context = max_context
        self._layers = config.num_hidden_layers
        self._sampler = _native.Sampler(config.vocab_size)
        self._weight_bytes = sum(p.stat().st_size for p in model_path.parent.glob("model.onnx*"))
        self._tokens_evaluated = 0
        self._reset()

    def _reset(self) -> None:
        c = self._config
        empty = np.zeros((1, c.num_key_value_heads, 0, c.head_dim), dtype=np.float32)
        self._past = [(empty, empty) for _ in range(self._layers)]
        self._last = np.zeros(c.vocab_size, dtype=np.float32)

    @property
    def position(self) -> int:
        return self._past[0][0].shape[2]

    @property
    def tokens_evaluated(self) -> int:
        return self._tokens_evaluated

    def info(self) -> dict[str, Any]:
        c = self._config
        return {
            "kernel": "onnxruntime-cpu",
            "threads": self._threads,
            "max_context": self._max_context,
            "kv_cache_bytes": 2
            * self._layers
            * self.position
            * c.num_key_value_heads
            * c.head_dim
            * 4,
            "weight_bytes_per_token": self._weight_bytes,
        }

    def _run(self, tokens: np.ndarray) -> np.ndarray:
        """Run tokens after the cached sequence; return their logits [n, vocab]."""
        n, start = len(tokens), self.position
        if start + n > self._max_context:
            raise ValueError(
                f"the sequence would reach {start + n} tokens; max_context is {self._max_context}"
            )
        feed = {
            "input_ids": np.asarray(tokens, dtype=np.int64)[None, :],
            "attention_mask": np.ones((1, start + n), dtype=np.int64),
            "position_ids": np.arange(start, start + n, dtype=np.int64)[None, :],
        }
        for i, (k, v) in enumerate(self._past):
            feed[f"past_key_values.{i}.key"] = k
            feed[f"past_key_values.{i}.value"] = v
        logits, *present = self._session.run(None, feed)
        self._past = [(present[2 * i], present[2 * i + 1]) for i in range(self._layers)]
        self._tokens_evaluated += n
        self._last = logits[0, -1].copy()
        return logits[0]

    def append(self, tokens: np.ndarray) -> None:
        if len(tokens):
            self._run(tokens)

    def logits_all(self, tokens: np.ndarray) -> np.ndarray:
        self._reset()
        return np.ascontiguousarray(self._run(tokens), dtype=np.float32)

    def rewind(self, position: int, logits: np.ndarray) -> None:
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot rewind to {position}: the sequence has {self.position}")
        self._past = [
            (np.ascontiguousarray(k[:, :, :position]), np.ascontiguousarray(v[:, :, :position]))
            for k, v in self._past
        ]
        self._last = np.asarray(logits, dtype=np.float32).copy()


def open_backend(bundle: Bundle, threads: int, max_context: int) -> OnnxRuntimeBackend:
    """The backend for `Engine.load(bundle_dir, backend="onnxruntime")`."""
    return OnnxRuntimeBackend(bundle.folder / ONNX_FILE, bundle.config, threads, max_context)
