"""Runtimes other than the native engine that run a bundle behind the Engine API.

Each backend is a module here exposing `open_backend(bundle, threads,
max_context)` that returns an object of the Backend protocol (engine.py). Its
runtime package is imported only when that backend is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..bundle import Bundle
    from ..engine import Backend

BACKENDS = ("native", "onnxruntime", "tflite")
# backend -> how to install its runtime
_INSTALL = {"onnxruntime": "pip install onnxruntime", "tflite": "pip install 'edge-reason[tflite]'"}


def open_backend(name: str, bundle: Bundle, threads: int, max_context: int) -> Backend:
    """Start backend `name` (not "native": the Engine builds that one) on a bundle."""
    if name not in _INSTALL:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    try:
        module = importlib.import_module(f".{name}", __name__)
    except ImportError as e:
        raise ImportError(
            f"backend {name!r} is not available ({e}); install it with: {_INSTALL[name]}"
        ) from e
    return module.open_backend(bundle, threads, max_context)
