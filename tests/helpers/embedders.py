"""Embedders for retrieval tests: a deterministic fake, and the real all-MiniLM-L6-v2
loaded by the engine as the product loads it (edge_reason/reasoning/embedding_model.py)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from edge_reason.reasoning.embedding_model import EmbeddingModel, load_embedding_model
from edge_reason.reasoning.retrieval import STOP_WORDS
from helpers.real_models import minilm_folder


class FakeEmbedder:
    """Hashed bags of words but stop words (``dim`` buckets, a sign each): texts that share
    words are near.
    ``synonyms`` maps a word to the word it stands for (``{"fan": "ventilation"}``), a crude
    stand-in for a model's sense of meaning. Counts its calls and the texts it embedded."""

    is_encoder = True  # as an encoder's Engine says, where it stands in for one

    def __init__(self, dim: int = 32, synonyms: dict[str, str] | None = None) -> None:
        self.dim = dim
        self.synonyms = synonyms or {}
        self.calls = 0
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += texts
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in STOP_WORDS:
                    continue
                word = self.synonyms.get(word, word)
                hashed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                vectors[row, hashed % self.dim] += 1.0 if hashed & 1 << 31 else -1.0
        return vectors


def fake_model(embedder: FakeEmbedder | None = None, name: str = "fake") -> EmbeddingModel:
    """A fake embedder recorded as a model named ``name`` (its digest: the name and dim)."""
    embedder = embedder or FakeEmbedder()
    return EmbeddingModel(embedder, name, f"/nowhere/{name}", f"{name}-{embedder.dim}")


def minilm_model() -> EmbeddingModel:
    """all-MiniLM-L6-v2 (dim 384) on the engine, as a store loads it."""
    return load_embedding_model(minilm_folder())
