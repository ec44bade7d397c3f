"""The model that ships inside the package: a bAbI-and-addition reasoner, INT4.

It is the bundle the ``babi_arith`` recipe (``edge_reason/export/recipes/babi_arith``)
trains, distills, quantizes and evaluates; ``Reasoner()`` and ``edge-reason ask`` use it
when no model is given. It answers questions about short stories in the bAbI style (citing
the story lines it used) and multi-digit additions (with a scratchpad the verifier
recomputes); it is not a chat model.

>>> engine = load_default_engine()
>>> engine.manifest["recipe"]["name"]
'babi_arith'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .bundle import Bundle
from .bundle_manifest import MANIFEST_NAME

if TYPE_CHECKING:
    from .engine import Engine

DEFAULT_MODEL_NAME = "babi-arith"


def default_model_path() -> Path | None:
    """The shipped bundle's folder, or None when this installation carries none."""
    folder = Path(str(resources.files("edge_reason") / "models" / DEFAULT_MODEL_NAME))
    return folder if (folder / MANIFEST_NAME).is_file() else None


def load_default_engine(threads: int | None = None) -> Engine | None:
    """The shipped model on the native engine (checksums verified), or None without one.

    The KV cache holds the model's whole trained context: bAbI's longest stories (task 3)
    need more than the engine's default.
    """
    path = default_model_path()
    if path is None:
        return None
    from .engine import Engine

    context = Bundle.open(path).config.max_position_embeddings
    return Engine.load(path, threads=threads, max_context=context)
