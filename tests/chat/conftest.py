"""Fixtures for the chat tests: a tokenizer with the templates' special tokens, and
random-weight model folders that carry a template in tokenizer_config.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.chat_models import SPECIAL_TOKENS, tokenizer_config
from helpers.hf_models import build_model, train_tokenizer


@pytest.fixture(scope="session")
def chat_tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train_tokenizer(path, special_tokens=SPECIAL_TOKENS)
    return path


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """style -> a random-weight Qwen3 folder whose tokenizer_config.json has that template."""
    root = tmp_path_factory.mktemp("chat-models")
    built: dict[str, Path] = {}

    def get(style: str) -> Path:
        if style not in built:
            folder = build_model(root / style, "qwen3")
            train_tokenizer(folder / "tokenizer.json", special_tokens=SPECIAL_TOKENS)
            (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(style)))
            built[style] = folder
        return built[style]

    return get


@pytest.fixture(scope="session")
def model_dirs_without_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("plain") / "qwen2", "qwen2")


@pytest.fixture(scope="session")
def model_without_thinking_tags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Llama-3-style template, and a tokenizer without <think> tokens."""
    folder = build_model(tmp_path_factory.mktemp("no-tags") / "qwen2", "qwen2")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config("llama3")))
    return folder
