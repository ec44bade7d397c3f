"""The LiteRT (TensorFlow Lite) backend: runs a bundle's model.tflite behind the Engine API.

Engine.load(bundle_dir, backend="tflite") calls `open_backend(bundle, threads,
max_context)` below, which opens the interpreter with

    TFLiteBackend.from_bundle(bundle_dir: Path, manifest: dict, threads: int) -> TFLiteBackend

`manifest` is the parsed bundle.json; its "tflite" entry is the dict that
edge_reason.export.tflite_export.add_tflite returned (file, vocab_size,
max_context, prefill_tokens, cache names and shape). The backend implements
edge_reason.engine.Backend. The interpreter comes from `ai_edge_litert`, or
from `tflite_runtime` on devices that only have that; either is imported only
here, when a bundle is loaded with this backend.

The model has two signatures with the KV cache as inputs and outputs:
"prefill" runs a fixed-size chunk of tokens (a shorter one is padded; the
padding lands in cache slots past the sequence that nothing reads before they
are overwritten), "decode" runs one token. Generation therefore costs one
decode call per token, and a prompt of n tokens ceil(n / prefill_tokens) calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _native
from ..errors import ModelFormatError
from .sampling import SamplesLastLogits

if TYPE_CHECKING:
    from ..bundle import Bundle


class TFLiteBackend(SamplesLastLogits):
    """One token sequence run through a LiteRT interpreter."""

    def __init__(
        self,
        interpreter: Any,
        *,
        runtime: str,
        vocab_size: int,
        max_context: int,
        prefill_tokens: int,
        cache_names: list[str],
        cache_shape: tuple[int, ...],
        threads: int,
        model_bytes: int,
    ) -> None:
        self._prefill = interpreter.get_signature_runner("prefill")
        self._decode = interpreter.get_signature_runner("decode")
        self._runtime = runtime
        self._vocab_size = vocab_size
        self._max_context = max_context
        self._prefill_tokens = prefill_tokens
        self._empty_caches = {name: np.zeros(cache_shape, np.float32) for name in cache_names}
        self._caches = dict(self._empty_caches)
        self._threads = threads
        self._model_bytes = model_bytes
        self._sampler = _native.Sampler(vocab_size)
        self._position = 0
        self._last = np.zeros(vocab_size, np.float32)
        self._evaluated = 0
        self._invocations = 0

    @classmethod
    def from_bundle(cls, bundle_dir: Path, manifest: dict[str, Any], threads: int) -> TFLiteBackend:
        """Open bundle_dir's model.tflite as described by manifest["tflite"]."""
        manifest_path = Path(bundle_dir) / "bundle.json"
        entry = manifest.get("tflite")
        if not isinstance(entry, dict):
            raise ModelFormatError(
                f"{manifest_path}: no 'tflite' entry (the bundle was exported without --tflite)"
            )
        where = f"{manifest_path}: tflite"
        file = _field(entry, "file", str, where)
        cache = _field(entry, "cache", dict, where)
        names = _field(cache, "names", list, f"{where}.cache")
        shape = _field(cache, "shape", list, f"{where}.cache")
        if not names or not all(isinstance(n, str) for n in names):
            raise ModelFormatError(f"{where}.cache.names must be a list of tensor names")
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ModelFormatError(
                f"{where}.cache.shape must be 4 positive integers, got {shape!r}"
            )
        path = Path(bundle_dir) / file
        if not path.is_file():
            raise ModelFormatError(f"{path}: missing (named by {where}.file)")
        interpreter_class, runtime = _interpreter_class()
        try:
            interpreter = interpreter_class(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as e:
            raise ModelFormatError(f"{path}: {runtime} cannot load it ({e})") from e
        return cls(
            interpreter,
            runtime=runtime,
            vocab_size=_field(entry, "vocab_size", int, where),
            max_context=_field(entry, "max_context", int, where),
            prefill_tokens=_field(entry, "prefill_tokens", int, where),
            cache_names=names,
            cache_shape=tuple(shape),
            threads=threads,
            model_bytes=path.stat().st_size,
        )

    # ---- the Backend protocol --------------------------------------------------------

    @property
    def position(self) -> int:
        return self._position

    @property
    def tokens_evaluated(self) -> int:
        return self._evaluated

    @property
    def max_context(self) -> int:
        """Cache positions the model was exported with."""
        return self._max_context

    @property
    def invocations(self) -> int:
        """Signature calls (prefill chunks and decode steps) since construction."""
        return self._invocations

    def info(self) -> dict[str, Any]:
        return {
            "kernel": f"{self._runtime} (XNNPACK)",
            "threads": self._threads,
            "max_context": self._max_context,
            "prefill_tokens": self._prefill_tokens,
            # Every call reads the whole model and the whole cache.
            "weight_bytes_per_token": self._model_bytes,
            "kv_cache_bytes": sum(c.nbytes for c in self._empty_caches.values()),
        }

    def append(self, tokens: np.ndarray) -> None:
        self._last = self._run(tokens)[-1].copy()

    def logits_all(self, tokens: np.ndarray) -> np.ndarray:
        self._position = 0
        rows = self._run(tokens)
        self._last = rows[-1].copy()
        return rows

    def rewind(self, position: int, logits: np.ndarray) -> None:
        if not 0 <= position <= self._position:
            raise ValueError(f"cannot rewind to {position}: the sequence has {self._position}")
        self._position = position
        self._last = np.asarray(logits, dtype=np.float32).reshape(self._vocab_size).copy()

    # ---- running ----------------------------------------------------------------------

    def _run(self, tokens: np.ndarray) -> np.ndarray:
        """Append tokens at the current position; float32 [n, vocab] logits after each."""
        ids = np.asarray(tokens, dtype=np.int32).reshape(-1)
        if ids.size == 0:
            raise ValueError("no tokens to run")
        if self._position + ids.size > self._max_context:
            raise ValueError(
                f"{self._position} + {ids.size} tokens exceed max_context ({self._max_context})"
            )
        rows = []
        for start in range(0, ids.size, self._prefill_tokens):
            chunk = ids[start : start + self._prefill_tokens]
            rows.append(self._call(chunk))
        return np.concatenate(rows)

    def _call(self, chunk: np.ndarray) -> np.ndarray:
        """One signature call: decode for a single token, else a padded prefill chunk."""
        count = chunk.size
        width = 1 if count == 1 else self._prefill_tokens
        padded = np.zeros((1, width), np.int32)
        padded[0, :count] = chunk
        runner = self._decode if width == 1 else self._prefill
        out = runner(
            tokens=padded,
            input_pos=np.arange(self._position, self._position + width, dtype=np.int32),
            **self._caches,
        )
        self._invocations += 1
        self._caches = {name: out[name] for name in self._caches}
        self._position += count
        self._evaluated += count
        return out["logits"][0, :count]


def open_backend(bundle: Bundle, threads: int, max_context: int) -> TFLiteBackend:
    """The backend for `Engine.load(bundle_dir, backend="tflite")`."""
    backend = TFLiteBackend.from_bundle(bundle.folder, bundle.manifest, threads)
    if max_context > backend.max_context:
        raise ValueError(
            f"{bundle.folder}: model.tflite was exported for max_context={backend.max_context}, "
            f"asked for {max_context}"
        )
    return backend


def _field(entry: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelFormatError(f"{where}: field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _interpreter_class() -> tuple[type, str]:
    """LiteRT's interpreter, or tflite_runtime's on devices that only have that."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ModuleNotFoundError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the tflite backend needs ai-edge-litert (pip install 'edge-reason[tflite]') "
            "or tflite-runtime"
        ) from None
