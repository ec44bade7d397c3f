"""Small GGUF files that hold only a vocabulary, trained here with `tokenizers`.

llama.cpp loads such a file with vocab_only=True; it still reads the architecture's
hyperparameters, so a few are written, and one tiny tensor keeps the file well-formed.
Two shapes of vocabulary, as GGUF converters write them:

- "gpt2": a byte-level BPE, its merges ranked, under a llama.cpp pre-tokenizer name;
- "llama": SentencePiece-style, with <unk> <s> </s>, the 256 <0xXX> byte tokens, then the
  pieces, each scored by how early it was learnt.

Both also hold control tokens (<|im_start|>, <|im_end|>) and a user-defined one (<tool_call>).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from .tokenizer_corpus import training_text

CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
USER_DEFINED_TOKENS = ["<tool_call>"]
T = gguf.TokenType


def read_metadata(path: Path) -> dict[str, Any]:
    """A GGUF file's metadata as plain Python values, as the engine's reader gives it."""
    return {key: field.contents() for key, field in gguf.GGUFReader(path).fields.items()}


def write_byte_level_bpe_gguf(path: Path, pre: str) -> Path:
    """A "gpt2" vocabulary under pre-tokenizer `pre`; BOS = EOS = <|endoftext|>, BOS added."""
    tokens, merges = _byte_level_bpe()
    types = [_type_of(text, T.NORMAL) for text in tokens]

    def vocabulary(writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre)
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(tokens.index("<|endoftext|>"))
        writer.add_eos_token_id(tokens.index("<|endoftext|>"))
        writer.add_add_bos_token(True)

    return _write(path, vocabulary)


@cache
def _byte_level_bpe() -> tuple[list[str], list[str]]:
    trained = _train(
        models.BPE(),
        trainers.BpeTrainer(
            vocab_size=3000,
            special_tokens=CONTROL_TOKENS + USER_DEFINED_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
        pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False),
    )
    return _tokens_and_merges(trained)


def write_sentencepiece_gguf(path: Path, add_space_prefix: bool = True) -> Path:
    """A "llama" vocabulary: <unk> <s> </s>, byte tokens, scored pieces, then the extras."""
    trained = _train(
        models.BPE(),
        trainers.BpeTrainer(vocab_size=2500, limit_alphabet=200, show_progress=False),
        normalizer=normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
        pre_tokenizer=pre_tokenizers.Metaspace(prepend_scheme="never"),
    )
    head = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    extras = CONTROL_TOKENS[1:] + USER_DEFINED_TOKENS
    # a piece spelling a special token would make the token text ambiguous, and llama.cpp
    # reads token texts as C strings: "▁\x00" would become a second "▁"
    pieces = [
        p for p in _tokens_and_merges(trained)[0] if p not in head + extras and "\x00" not in p
    ]
    tokens = head + pieces + extras
    types = [T.UNKNOWN, T.CONTROL, T.CONTROL] + [T.BYTE] * 256
    types += [T.NORMAL] * len(pieces) + [_type_of(text, T.NORMAL) for text in extras]
    # a piece learnt earlier merges first: SentencePiece's BPE scores are minus the rank
    scores = [0.0] * len(head) + [-float(i) for i in range(len(pieces))]
    scores += [0.0] * (len(tokens) - len(scores))

    def vocabulary(writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_add_space_prefix(add_space_prefix)
        writer.add_add_bos_token(True)

    return _write(path, vocabulary)


def _train(model, trainer, *, pre_tokenizer, normalizer=None) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.train_from_iterator(training_text(), trainer)
    return tokenizer


def _tokens_and_merges(tokenizer: Tokenizer) -> tuple[list[str], list[str]]:
    model = json.loads(tokenizer.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, merges


def _type_of(text: str, otherwise: int) -> int:
    if text in CONTROL_TOKENS:
        return T.CONTROL
    return T.USER_DEFINED if text in USER_DEFINED_TOKENS else otherwise


def _write(path: Path, vocabulary) -> Path:
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_feed_forward_length(8)
    writer.add_head_count(1)
    writer.add_layer_norm_rms_eps(1e-5)
    vocabulary(writer)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
