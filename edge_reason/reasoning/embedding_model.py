"""The text encoder whose vectors a document store holds, and how the store names it.

Any object with ``embed(texts) -> array (n, dim)`` is an :class:`Embedder`: the engine's
encoder (``Engine.load(folder).embed``) in the product, a fake in tests. An
:class:`EmbeddingModel` is an embedder with what the store records of it: its name, its path
and a digest of its files, so that a store's vectors are only ever compared with a query's
vectors made by the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edge_reason.errors import EdgeReasonError

from .document_files import display_name
from .errors import RetrievalError

if TYPE_CHECKING:
    from edge_reason.engine import Engine


class Embedder(Protocol):
    """Turns texts into vectors, one row each."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbeddingModel:
    """An embedder and how a store records it (``digest``: SHA-256 of its files)."""

    embedder: Embedder
    name: str
    path: str
    digest: str

    @classmethod
    def from_folder(cls, path: str | os.PathLike[str], embedder: Embedder) -> EmbeddingModel:
        """``embedder``, recorded as the model at ``path`` (a folder or a file)."""
        path = Path(path)
        return cls(embedder, path.name, display_name(path.resolve()), files_digest(path))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's vectors of ``texts``, checked: a float matrix of one finite row
        per text."""
        try:
            vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        except EdgeReasonError as error:
            raise RetrievalError(f"{self.name}: cannot embed ({error})") from None
        if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
            raise RetrievalError(
                f"{self.name}: the embedder returned {vectors.shape} values for {len(texts)} "
                "texts, not one finite vector each"
            )
        return vectors


def load_embedding_model(path: str | os.PathLike[str]) -> EmbeddingModel:
    """The encoder at ``path`` (a sentence-transformers folder such as all-MiniLM-L6-v2),
    loaded by the engine; a missing path or a model that is not an encoder is refused."""
    path = Path(path)
    name = display_name(path)
    if not path.exists():
        raise RetrievalError(f"{name}: no such embedding model (a text encoder's folder)")
    if not path.is_dir():  # a GGUF file or a bundle archive: generative models, loaded whole
        raise RetrievalError(
            f"{name}: not a text encoder's folder (config.json, model.safetensors, tokenizer.json)"
        )
    _refuse_a_generative_model(path, name)
    engine = open_encoder(path)
    if not engine.is_encoder:
        raise RetrievalError(f"{name}: a generative model, not a text encoder: it cannot embed")
    return EmbeddingModel.from_folder(path, engine)


def open_encoder(path: Path) -> Engine:
    """The engine holding the model at ``path`` (an encoder, unless refused after)."""
    from edge_reason.engine import Engine

    try:
        return Engine.load(path)
    except EdgeReasonError as error:
        raise RetrievalError(
            f"{display_name(path)}: not a text encoder the engine can load ({error})"
        ) from None


def files_digest(path: Path) -> str:
    """SHA-256 over a file's bytes, or over a folder's files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(os.fsencode(file.relative_to(path)) + b"\0")
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _refuse_a_generative_model(path: Path, name: str) -> None:
    """A causal language model would load (slowly) as a generator: refused by its config."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no readable config: the engine's load says what is wrong
    architectures = config.get("architectures") if isinstance(config, dict) else None
    generative = [a for a in architectures or [] if str(a).endswith(("ForCausalLM", "LMHeadModel"))]
    if generative:
        raise RetrievalError(
            f"{name}: a generative model ({', '.join(generative)}), not a text encoder"
        )
