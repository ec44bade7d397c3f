"""A random-weight BERT encoder folder as sentence-transformers lays one out, built
locally, and transformers' own embeddings of texts for it.

The folder holds what all-MiniLM-L6-v2's does: config.json and model.safetensors
(transformers' save_pretrained), a WordPiece tokenizer.json (trained here, with the fixed
padding and truncation MiniLM's tokenizer.json carries, which the engine must ignore),
modules.json, 1_Pooling/config.json and sentence_bert_config.json. Weights are redrawn
at unit scale (transformers' init gives near-constant outputs); sizes are not multiples
of 32.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from .hf_models import CORPUS

# BertConfig fields of the tiny model (vocab_size comes from the tokenizer).
BERT_FIELDS: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 100,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 40,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
}
MAX_SEQ_LENGTH = 24  # sentence_bert_config.json's: below the position table (40)

# The legacy Pooling config (as all-MiniLM-L6-v2's), for mean pooling.
MEAN_POOLING = {
    "word_embedding_dimension": 64,
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]


def train_wordpiece(path: Path, vocab_size: int = 300) -> Tokenizer:
    """A BERT-style tokenizer (lowercasing, [CLS] text [SEP]) trained on the test corpus."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    tok.train_from_iterator(CORPUS * 4, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    # MiniLM's tokenizer.json pads and truncates to 128: the engine must do neither.
    tok.enable_padding(length=32, pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=32)
    tok.save(str(path))
    return tok


def build_bert(
    folder: Path,
    *,
    seed: int = 0,
    pooling: dict[str, Any] | None = None,
    modules: list[dict[str, Any]] | None = MODULES,
    sentence_bert: dict[str, Any] | None = None,
    architecture: str = "BertModel",
    **overrides: Any,
) -> Path:
    """Write a random-weight BERT folder; `overrides` replace BertConfig fields, the other
    arguments the sentence-transformers files (modules=None: no modules.json)."""
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    tok = train_wordpiece(folder / "tokenizer.json")
    fields = {"vocab_size": tok.get_vocab_size(), **BERT_FIELDS, **overrides}
    config = transformers.BertConfig(**fields)
    torch.manual_seed(seed)
    model = getattr(transformers, architecture)(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(torch.randn_like(p))
            elif p.ndim == 2:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
            else:  # biases
                p.copy_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder, safe_serialization=True)
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling or MEAN_POOLING))
    sbert = {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
    (folder / "sentence_bert_config.json").write_text(json.dumps(sentence_bert or sbert))
    return folder


def reference_embeddings(
    folder: Path,
    texts: Sequence[str],
    *,
    pooling: str = "mean",
    normalize: bool = True,
    max_length: int | None = None,
) -> np.ndarray:
    """transformers' BertModel on each text alone (tokenized without padding; cut to
    max_length tokens if given), pooled and normalized as sentence-transformers does."""
    import transformers

    model = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    if max_length is not None:
        tok.enable_truncation(max_length=max_length)
    out = []
    with torch.no_grad():
        for text in texts:
            e = tok.encode(text)
            ids = torch.tensor([e.ids])
            states = model(input_ids=ids, token_type_ids=torch.tensor([e.type_ids]))[0][0]
            v = states[0] if pooling == "cls" else states.mean(dim=0)
            if normalize:
                v = torch.nn.functional.normalize(v, p=2, dim=0)
            out.append(v.numpy())
    return np.stack(out)
