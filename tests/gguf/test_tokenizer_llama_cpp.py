"""Token ids from a GGUF vocabulary equal llama.cpp's, on a corpus of 600+ hard strings.

Each string is compared four ways: with and without parsing special tokens (llama.cpp's
`special`), with and without BOS/EOS (`add_bos`). The vocabularies: the real SmolLM2 file
(gpt2 / smollm), byte-level BPEs trained here under several pre-tokenizer names, and a
SentencePiece-style "llama" vocabulary trained here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.gguf_vocabularies import (
    read_metadata,
    write_byte_level_bpe_gguf,
    write_sentencepiece_gguf,
)
from helpers.real_models import smollm2_gguf
from helpers.tokenizer_corpus import corpus

from edge_reason.gguf_tokenizer import tokenizer_from_gguf

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python (the reference tokenizer) is not installed"
)

PRE_TOKENIZERS = [
    "default",
    "gpt-2",
    "llama-bpe",
    "qwen2",
    "deepseek-r1-qwen",
    "smollm",
    "dbrx",
    "qwen35",
    "gpt-4o",
    "tekken",
    "falcon",
    "deepseek-coder",
    "deepseek-v3",
    "seed-coder",
    "ufakzeka",
    "bloom",
    "viking",
]


def mismatches(path: Path) -> list[tuple[str, bool, bool, list[int], list[int]]]:
    """(text, special, add_bos, llama.cpp's ids, ours) wherever the two differ."""
    tokenizer = tokenizer_from_gguf(read_metadata(path), str(path)).tokenizer
    reference = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    found = []
    for special in (True, False):
        tokenizer.encode_special_tokens = not special
        for text in corpus():
            for add_bos in (True, False):
                expected = reference.tokenize(text.encode(), add_bos=add_bos, special=special)
                ids = tokenizer.encode(text, add_special_tokens=add_bos).ids
                if ids != expected:
                    found.append((text, special, add_bos, expected, ids))
    return found


def assert_none(found: list) -> None:
    shown = "\n".join(repr(case) for case in found[:5])
    assert not found, f"{len(found)} of {4 * len(corpus())} tokenizations differ, e.g.\n{shown}"


def test_the_corpus_has_over_500_strings():
    assert len(set(corpus())) > 500


def test_smollm2_matches_llama_cpp():
    assert_none(mismatches(smollm2_gguf()))


@pytest.mark.parametrize("pre", PRE_TOKENIZERS)
def test_byte_level_bpe_matches_llama_cpp(pre, tmp_path):
    assert_none(mismatches(write_byte_level_bpe_gguf(tmp_path / "bpe.gguf", pre)))


def test_sentencepiece_matches_llama_cpp(tmp_path):
    assert_none(mismatches(write_sentencepiece_gguf(tmp_path / "spm.gguf")))
