"""Fuzz target: a GGUF file, opened, its model config and tokenizer built as Engine.load
builds them, then every metadata value read."""

from __future__ import annotations

from edge_reason.gguf_config import gguf_model_config
from edge_reason.gguf_file import GgufFile
from edge_reason.gguf_tokenizer import build_gguf_tokenizer
from fuzz.harness import attempt, expected, write_scratch


def TestOneInput(data: bytes) -> None:
    gguf = attempt(GgufFile.open, write_scratch("model.gguf", data))
    if gguf is None:
        return
    with expected():
        gguf_model_config(gguf)
        build_gguf_tokenizer(gguf.metadata, str(gguf.path))
    with expected():
        for key in gguf.metadata:
            gguf.value(key, object)
