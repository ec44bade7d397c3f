"""A GGUF file this project exports tokenizes like the tokenizer.json it came from."""

from __future__ import annotations

import pytest
from edge_reason.export.gguf_export import write_gguf
from helpers.gguf_vocabularies import read_metadata
from helpers.hf_models import build_model
from helpers.tokenizer_corpus import corpus
from tokenizers import Tokenizer

from edge_reason.gguf_tokenizer import tokenizer_from_gguf


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_exported_gguf_tokenizes_like_its_tokenizer_json(architecture, tmp_path):
    folder = build_model(tmp_path / architecture, architecture)
    path = write_gguf(folder, tmp_path / "m.gguf", "f32").path
    ours = tokenizer_from_gguf(read_metadata(path), str(path))
    original = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in corpus():
        assert ours.encode(text).ids == original.encode(text).ids, text
