"""Sentence embeddings from a BERT-style encoder on the native engine (Engine.embed).

Texts are tokenized with the model's tokenizer.json, with its own padding and
truncation settings turned off (the engine pads nothing; truncation is asked for), then
run `batch_size` texts at a time: each batch is one forward pass over all its tokens
laid end to end (csrc/encoder.h), whose token states are pooled and normalized as the
model's sentence-transformers config says (encoder_config.py).

Length: a text of more tokens ([CLS] and [SEP] included) than max_seq_length (from
sentence_bert_config.json; 256 for all-MiniLM-L6-v2) is refused with an error naming it,
unless truncate=True, which cuts it to max_seq_length tokens as sentence-transformers
does (silently, there). The limit is never above the position table
(max_position_embeddings).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _native, native_spec
from .encoder_config import EncoderConfig
from .errors import ModelFormatError
from .hf_weights import EngineWeights
from .model_source import load_tokenizer

# Tokens per forward pass: a batch of more runs in several, each of whole texts
# (at least max_position_embeddings, so that any text fits one). Passes of 512 tokens
# ran MiniLM 5-10% faster at int8 and int4 than passes of 1024 or 2048 (their
# activations stay in L2: 11 MB for MiniLM) and as fast at f32.
MAX_TOKENS_PER_PASS = 512


class Encoder:
    """A loaded encoder: the native encoder, its tokenizer and its pooling."""

    def __init__(
        self, native: Any, config: EncoderConfig, tokenizer: Any, path: Path, weight_bytes: int
    ) -> None:
        self._native = native
        self.config = config
        self.tokenizer = tokenizer
        self.path = path
        self.weight_bytes = weight_bytes
        self._truncating: Any = None  # the tokenizer cutting at max_seq_length, made on need
        self._lock = threading.Lock()

    @classmethod
    def build(
        cls,
        config: EncoderConfig,
        weights: EngineWeights,
        tokenizer: Path | bytes | None,
        path: Path,
        threads: int,
    ) -> Encoder:
        if tokenizer is None:
            raise ModelFormatError(f"{path}: no tokenizer.json (an encoder needs one to embed)")
        tok = load_tokenizer(tokenizer, path)
        tok.no_padding()
        tok.no_truncation()
        max_tokens = max(MAX_TOKENS_PER_PASS, config.max_position_embeddings)
        try:
            native = _native.NativeEncoder(
                native_spec.native_encoder_config(config, max_tokens),
                native_spec.native_encoder_weights(weights.tensors),
                threads,
                "",
            )
        except RuntimeError as e:  # e.g. EDGE_REASON_KERNEL names a kernel this CPU lacks
            raise RuntimeError(f"cannot start the engine: {e}") from e
        weights.release_copied(native.info()["interleaved_weight_bytes"] > 0)
        return cls(native, config, tok, path, weights.nbytes)

    @property
    def tokens_evaluated(self) -> int:
        return int(self._native.tokens_evaluated)

    def info(self) -> dict[str, Any]:
        native = self._native.info()
        c = self.config
        return {
            "kernel": native["kernel"],
            "threads": native["threads"],
            "dim": c.hidden_size,
            "max_seq_length": c.max_seq_length,
            "max_position_embeddings": c.max_position_embeddings,
            "pooling": c.pooling,
            "normalize": c.normalize,
            "weight_bytes": self.weight_bytes,
            "weight_bytes_per_token": native["weight_bytes_per_token"],
            "interleaved_weight_bytes": native["interleaved_weight_bytes"],
            "tokens_evaluated": self.tokens_evaluated,
        }

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 32, truncate: bool = False
    ) -> np.ndarray:
        """float32 [len(texts), dim]: one embedding per text (see Engine.embed)."""
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise TypeError(
                f"embed takes a list of texts, got {type(texts).__name__} "
                "(for one text, pass [text])"
            )
        if not texts:
            raise ValueError("no texts to embed: give at least one")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text at index {i} is {type(text).__name__}, not str")
        tokenized = self._tokenize(list(texts), truncate)
        out = np.empty((len(texts), self.config.hidden_size), dtype=np.float32)
        with self._lock:
            for start in range(0, len(tokenized), batch_size):
                batch = tokenized[start : start + batch_size]
                ids = np.concatenate([e.ids for e in batch]).astype(np.int32)
                types = np.concatenate([e.type_ids for e in batch]).astype(np.int32)
                lengths = np.array([len(e.ids) for e in batch], dtype=np.int32)
                out[start : start + len(batch)] = self._native.embed(ids, types, lengths)
        return out

    def _tokenize(self, texts: list[str], truncate: bool) -> list[Any]:
        """The texts' encodings, each checked to fit (or cut, with truncate)."""
        c = self.config
        if c.do_lower_case:
            texts = [t.lower() for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        limit = c.max_seq_length
        for i, e in enumerate(encodings):
            n = len(e.ids)
            if n == 0:
                raise ValueError(f"text {i} has no tokens (the tokenizer adds no [CLS] or [SEP])")
            if n > limit:
                if not truncate:
                    raise ValueError(self._too_long(i, n))
                encodings[i] = self._truncator().encode(texts[i])
            top = max(encodings[i].ids)
            if top >= c.vocab_size:
                raise ModelFormatError(
                    f"{self.path}: tokenizer.json gives token id {top} (text {i}), beyond "
                    f"config.json's vocab_size {c.vocab_size}"
                )
        return encodings

    def _too_long(self, index: int, tokens: int) -> str:
        c = self.config
        cut = (
            f"pass truncate=True to cut it to {c.max_seq_length} tokens, "
            "as sentence-transformers does"
        )
        if tokens > c.max_position_embeddings:
            return (
                f"text {index} has {tokens} tokens, more than the model's position table "
                f"holds (max_position_embeddings={c.max_position_embeddings}): {cut}"
            )
        return (
            f"text {index} has {tokens} tokens, more than max_seq_length "
            f"({c.max_seq_length}, sentence_bert_config.json): {cut}"
        )

    def _truncator(self) -> Any:
        """The tokenizer that cuts texts at max_seq_length tokens (specials included), on
        the right, as transformers' tokenizers do by default for sentence-transformers."""
        if self._truncating is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self.tokenizer.to_str())
            tok.enable_truncation(max_length=self.config.max_seq_length)
            self._truncating = tok
        return self._truncating
