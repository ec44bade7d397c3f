"""edge-reason: small language models that reason on edge devices, offline.

The public API is small:

    >>> from edge_reason import Engine
    >>> engine = Engine.load("path/to/hf-model-or-bundle", quant="int4")
    >>> print(engine.generate("Mary went to the kitchen.", max_new_tokens=16).text)

Names are imported lazily, so that ``edge_reason.heuristics`` (rule packs that
answer when there is no model) loads without the native engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Engine": "edge_reason.engine",
    "Generation": "edge_reason.engine",
    "GenerationStats": "edge_reason.engine",
    "PromptState": "edge_reason.engine",
    "ChatPiece": "edge_reason.thinking",
    "ChatTemplate": "edge_reason.chat_template",
    "EdgeReasonError": "edge_reason.errors",
    "ModelFormatError": "edge_reason.errors",
    "Reasoner": "edge_reason.reasoning.reasoner",
    "Answer": "edge_reason.reasoning.answer",
    "SamplingParams": "edge_reason.sampling_params",
}

__all__ = [
    "Answer",
    "ChatPiece",
    "ChatTemplate",
    "EdgeReasonError",
    "Engine",
    "Generation",
    "GenerationStats",
    "ModelFormatError",
    "PromptState",
    "Reasoner",
    "SamplingParams",
]

if TYPE_CHECKING:
    from .chat_template import ChatTemplate
    from .engine import Engine, Generation, GenerationStats, PromptState
    from .errors import EdgeReasonError, ModelFormatError
    from .reasoning.answer import Answer
    from .reasoning.reasoner import Reasoner
    from .sampling_params import SamplingParams
    from .thinking import ChatPiece


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_reason' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
