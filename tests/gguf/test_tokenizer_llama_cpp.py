"""Token ids and special tokens from a GGUF vocabulary equal llama.cpp's.

Each string of a 600+ string corpus is compared four ways: with and without parsing special
tokens (llama.cpp's `special`), with and without BOS/EOS (`add_bos`). The vocabularies: the
real SmolLM2 file (gpt2 / smollm), byte-level BPEs trained here under several pre-tokenizer
names, and a SentencePiece-style "llama" vocabulary trained here.
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

from edge_reason.gguf_pretokenizers import RULES
from edge_reason.gguf_tokenizer import build_gguf_tokenizer, tokenizer_from_gguf

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python (the reference tokenizer) is not installed"
)

# every distinct rule under at least one of its names, and some aliases
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
    "chatglm-bpe",
    "glm4",
    "jais-2",
    "minicpm5",
    "laguna",
    "bailingmoe",
    "minimax-m2",
    "hunyuan-dense",
]


# Each rule's comparison takes seconds: the fast tier keeps the real vocabulary, both
# SentencePiece shapes and two byte-level rules; the slow tier compares every rule.
FAST_PRE_TOKENIZERS = ("default", "gpt-2")
VOCABULARIES = [
    "smollm2",
    "sentencepiece",
    "sentencepiece without a space prefix",
    *(
        pytest.param(f"gpt2/{pre}", marks=() if pre in FAST_PRE_TOKENIZERS else pytest.mark.slow)
        for pre in PRE_TOKENIZERS
    ),
]


@pytest.fixture(params=VOCABULARIES)
def vocabulary(request, tmp_path) -> Path:
    """A GGUF file: the real SmolLM2 one, or a vocabulary trained here."""
    if request.param == "smollm2":
        return smollm2_gguf()
    if request.param.startswith("sentencepiece"):
        prefix = request.param == "sentencepiece"
        return write_sentencepiece_gguf(tmp_path / "spm.gguf", add_space_prefix=prefix)
    return write_byte_level_bpe_gguf(tmp_path / "bpe.gguf", request.param.split("/")[1])


def test_every_pre_tokenizer_rule_is_compared():
    assert {RULES[name] for name in PRE_TOKENIZERS} == set(RULES.values())


def test_the_corpus_has_over_500_strings():
    assert len(set(corpus())) > 500


def test_ids_match_llama_cpp(vocabulary):
    ours = tokenizer_from_gguf(read_metadata(vocabulary), str(vocabulary))
    reference = llama_cpp.Llama(model_path=str(vocabulary), vocab_only=True, verbose=False)
    differ = []  # (text, special, add_bos, llama.cpp's ids, ours)
    for special in (True, False):
        ours.encode_special_tokens = not special
        for text in corpus():
            for add_bos in (True, False):
                expected = reference.tokenize(text.encode(), add_bos=add_bos, special=special)
                ids = ours.encode(text, add_special_tokens=add_bos).ids
                if ids != expected:
                    differ.append((text, special, add_bos, expected, ids))
    shown = "\n".join(repr(case) for case in differ[:5])
    assert not differ, f"{len(differ)} of {4 * len(corpus())} tokenizations differ, e.g.\n{shown}"


def test_special_tokens_match_llama_cpp(vocabulary):
    ours = build_gguf_tokenizer(read_metadata(vocabulary), str(vocabulary))
    reference = llama_cpp.Llama(model_path=str(vocabulary), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(reference.model)
    assert ours.bos_token_id == reference.token_bos()
    assert ours.eos_token_id == reference.token_eos()
    assert ours.add_bos == llama_cpp.llama_vocab_get_add_bos(vocab)
    assert ours.add_eos == llama_cpp.llama_vocab_get_add_eos(vocab)
    n_tokens = ours.tokenizer.get_vocab_size()
    assert ours.end_of_generation_ids == {
        i for i in range(n_tokens) if llama_cpp.llama_vocab_is_eog(vocab, i)
    }
