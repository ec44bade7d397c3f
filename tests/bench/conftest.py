from __future__ import annotations

from pathlib import Path

import pytest
from helpers.hf_models import build_model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight Llama (untied head, Llama-3 RoPE scaling), Qwen2 (q/k/v biases,
    tied head), Qwen3 (q/k norms) and Gemma 3 (sliding window, local RoPE base) folders:
    the architectures the GGUF converter handles."""
    root = tmp_path_factory.mktemp("bench_models")
    names = ("llama", "qwen2", "qwen3", "gemma3")
    # llama.cpp derives Gemma 3's query scale from head_dim (18) instead of reading it
    overrides = {"gemma3": {"query_pre_attn_scalar": 18}}
    return {
        name: build_model(root / name, name, seed=i, **overrides.get(name, {}))
        for i, name in enumerate(names)
    }


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's derived files (GGUF, bundles) in its own cache, never the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGE_REASON_CACHE", str(cache))
    return cache
