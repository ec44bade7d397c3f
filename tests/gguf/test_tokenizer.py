"""The GGUF tokenizer without llama.cpp: what it reports, decoding, and bad metadata."""

from __future__ import annotations

import re

import pytest
from helpers.gguf_vocabularies import (
    USER_DEFINED_TOKENS,
    read_metadata,
    write_byte_level_bpe_gguf,
    write_sentencepiece_gguf,
)
from helpers.real_models import smollm2_gguf
from helpers.tokenizer_corpus import SPECIAL_TEXTS, corpus

from edge_reason.errors import ModelFormatError
from edge_reason.gguf_tokenizer import tokenizer_from_gguf


@pytest.fixture(scope="module")
def smollm2_metadata():
    return read_metadata(smollm2_gguf())


@pytest.fixture(scope="module")
def sentencepiece_metadata(tmp_path_factory):
    return read_metadata(write_sentencepiece_gguf(tmp_path_factory.mktemp("spm") / "v.gguf"))


@pytest.fixture(scope="module")
def qwen2_metadata(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpe") / "v.gguf"
    return read_metadata(write_byte_level_bpe_gguf(path, "qwen2"))


def test_smollm2_reports_its_special_tokens(smollm2_metadata):
    smollm2 = tokenizer_from_gguf(smollm2_metadata, "smollm2.gguf")
    assert (smollm2.bos_token_id, smollm2.bos_token) == (1, "<|im_start|>")
    assert (smollm2.eos_token_id, smollm2.eos_token) == (2, "<|im_end|>")
    assert (smollm2.add_bos, smollm2.add_eos) == (False, False)
    assert smollm2.tokenizer.get_vocab_size() == 49152
    # <|endoftext|>, <|im_end|> and <reponame>, a fill-in-the-middle marker
    assert smollm2.end_of_generation_ids == {0, 2, 4}


def test_markers_known_by_name_are_control_tokens_whatever_their_type(smollm2_metadata):
    all_normal = broken(smollm2_metadata, "token_type", [1] * 49152)
    tokenizer = tokenizer_from_gguf(all_normal, "smollm2.gguf").tokenizer
    assert tokenizer.encode("<|im_end|>").ids == [2]
    assert len(tokenizer.encode("<|im_start|>").ids) > 1


def test_sentencepiece_defaults_add_bos(sentencepiece_metadata):
    metadata = dict(sentencepiece_metadata)
    del metadata["tokenizer.ggml.add_bos_token"], metadata["tokenizer.ggml.bos_token_id"]
    spm = tokenizer_from_gguf(metadata, "spm.gguf")
    # llama.cpp's defaults for a "llama" vocabulary: BOS is token 1 and is added
    assert (spm.bos_token_id, spm.bos_token, spm.add_bos) == (1, "<s>", True)
    assert spm.tokenizer.encode("hi").ids[0] == 1


@pytest.mark.parametrize("vocabulary", ["smollm2_metadata", "qwen2_metadata"])
def test_byte_level_decoding_inverts_encoding(vocabulary, request):
    tokenizer = tokenizer_from_gguf(request.getfixturevalue(vocabulary), "v.gguf").tokenizer
    for text in corpus():
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text


@pytest.mark.parametrize("space_prefix", [True, False])
def test_sentencepiece_decoding_inverts_encoding(sentencepiece_metadata, space_prefix):
    metadata = broken(sentencepiece_metadata, "add_space_prefix", space_prefix)
    tokenizer = tokenizer_from_gguf(metadata, "spm.gguf").tokenizer
    # after a whole token, the text resumes with the "▁" llama.cpp puts before every span
    plain = [t for t in corpus() if not any(s in t for s in SPECIAL_TEXTS + ["<unk>"])]
    assert len(plain) > 400
    for text in plain:
        ids = tokenizer.encode(text).ids
        assert tokenizer.decode(ids) == text


def test_sentencepiece_falls_back_to_bytes(sentencepiece_metadata):
    tokenizer = tokenizer_from_gguf(sentencepiece_metadata, "spm.gguf").tokenizer
    rare = "\U0001d11e"  # a musical symbol the training text never had
    assert tokenizer.encode(rare, add_special_tokens=False).tokens == [
        "▁",
        "<0xF0>",
        "<0x9D>",
        "<0x84>",
        "<0x9E>",
    ]


def test_user_defined_tokens_match_even_without_special_parsing(qwen2_metadata):
    tokenizer = tokenizer_from_gguf(qwen2_metadata, "v.gguf").tokenizer
    tokenizer.encode_special_tokens = True
    tokens = tokenizer.encode("<tool_call><|im_start|>", add_special_tokens=False).tokens
    assert tokens[0] == USER_DEFINED_TOKENS[0]
    assert "<|im_start|>" not in tokens


KEY = "tokenizer.ggml."


def broken(metadata, key, value):
    changed = dict(metadata)
    if value is None:
        del changed[KEY + key]
    else:
        changed[KEY + key] = value
    return changed


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("tokens", None, "tokenizer.ggml.tokens: missing"),
        ("tokens", [], "tokenizer.ggml.tokens: empty"),
        ("tokens", "abc", "tokenizer.ggml.tokens: expected list, got str"),
        ("model", None, "tokenizer.ggml.model: missing"),
        ("model", "t5", "tokenizer.ggml.model: tokenizer model 't5' is not supported"),
        ("pre", "no-such-pre", "tokenizer.ggml.pre: pre-tokenizer 'no-such-pre' is not one"),
        ("merges", None, "tokenizer.ggml.merges: missing"),
        ("merges", ["Ġ t", "abc"], "tokenizer.ggml.merges: entry 1 'abc' is not two symbols"),
        ("merges", ["Ġ "], "tokenizer.ggml.merges: entry 0 'Ġ ' is not two symbols"),
        ("merges", [7], "tokenizer.ggml.merges: entry 0 7 is not two symbols"),
        ("bos_token_id", 49152, "tokenizer.ggml.bos_token_id: token id 49152 is out of range"),
        ("eos_token_id", -1, "tokenizer.ggml.eos_token_id: token id -1 is out of range"),
        ("eos_token_id", "2", "tokenizer.ggml.eos_token_id: expected int, got str"),
        ("token_type", [1, 1], "tokenizer.ggml.token_type: 2 entries for 49152 tokens"),
        ("add_bos_token", 1, "tokenizer.ggml.add_bos_token: expected bool, got int"),
    ],
)
def test_bad_byte_level_metadata_is_named(smollm2_metadata, key, value, problem):
    with pytest.raises(ModelFormatError, match="^smollm2.gguf: " + re.escape(problem)):
        tokenizer_from_gguf(broken(smollm2_metadata, key, value), "smollm2.gguf")


def test_repeated_token_is_named(smollm2_metadata):
    tokens = list(smollm2_metadata[KEY + "tokens"])
    tokens[5] = tokens[0]
    repeated = re.escape("tokens: token 5 '<|endoftext|>' repeats token 0")
    with pytest.raises(ModelFormatError, match=repeated):
        tokenizer_from_gguf(broken(smollm2_metadata, "tokens", tokens), "smollm2.gguf")


def test_add_bos_without_a_bos_token_is_named(smollm2_metadata):
    metadata = broken(broken(smollm2_metadata, "bos_token_id", None), "add_bos_token", True)
    with pytest.raises(ModelFormatError, match="bos_token_id: missing, but add_bos_token"):
        tokenizer_from_gguf(metadata, "smollm2.gguf")


@pytest.mark.parametrize(
    "key, cut, problem",
    [
        ("scores", 1, "tokenizer.ggml.scores: 1 entries for"),
        ("token_type", 3, "tokenizer.ggml.token_type: 3 entries for"),
    ],
)
def test_lengths_that_disagree_are_named(sentencepiece_metadata, key, cut, problem):
    short = sentencepiece_metadata[KEY + key][:cut]
    with pytest.raises(ModelFormatError, match="^spm.gguf: " + re.escape(problem)):
        tokenizer_from_gguf(broken(sentencepiece_metadata, key, short), "spm.gguf")


def test_sentencepiece_without_scores_is_named(sentencepiece_metadata):
    with pytest.raises(ModelFormatError, match="tokenizer.ggml.scores: missing"):
        tokenizer_from_gguf(broken(sentencepiece_metadata, "scores", None), "spm.gguf")


def test_a_score_that_is_not_a_number_is_named(sentencepiece_metadata):
    scores = list(sentencepiece_metadata[KEY + "scores"])
    scores[4] = "high"
    with pytest.raises(ModelFormatError, match="scores: entry 4 is 'high', not a float"):
        tokenizer_from_gguf(broken(sentencepiece_metadata, "scores", scores), "spm.gguf")
