"""A BERT-style encoder and its sentence-transformers pipeline, read from a model folder.

Every field the engine does not implement is refused by name, as for the decoders
(model_config.py), so a model never runs with a feature silently ignored.

config.json (transformers' BertConfig; model_type "bert") -> EncoderConfig:
    hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size,
    max_position_embeddings, type_vocab_size (2), layer_norm_eps (1e-12):
                            the fields of the same name (defaults as BertConfig's)
    hidden_act              "gelu" (the exact, erf GELU) only
    position_embedding_type "absolute" only (relative_key and relative_key_query refused)
    is_decoder, add_cross_attention, chunk_size_feed_forward:
                            refused when set (a decoder, cross-attention, chunked MLP)
modules.json (sentence-transformers): a Transformer module at the folder's root, a
Pooling module, and optionally Normalize, in that order; any other module is refused.
Without modules.json: mean pooling, not normalized (what sentence-transformers builds
around a plain transformers model).
<Pooling path>/config.json:
    pooling_mode "mean" or "cls" (sentence-transformers 5), or the older booleans
    pooling_mode_mean_tokens / pooling_mode_cls_token (exactly one true; the other
    modes refused)      -> pooling
    embedding_dimension / word_embedding_dimension: must equal hidden_size
sentence_bert_config.json:
    max_seq_length      -> max_seq_length: the longest text in tokens ([CLS] and [SEP]
                           included) that runs as it is; longer ones are refused, or cut
                           to it with embed(truncate=True), as sentence-transformers does.
                           Absent: max_position_embeddings. Above it: refused.
    do_lower_case       -> do_lower_case: texts are lowercased before tokenization
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelFormatError
from .model_config import positive_float_field, read_json, read_json_object, size_field

POOLING_MODES = ("mean", "cls")
# The older Pooling config's booleans, by the mode each stands for.
_LEGACY_POOLING = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def is_encoder_config(raw: dict[str, Any]) -> bool:
    """Whether a config.json describes a BERT-style encoder (rather than a causal LM)."""
    archs = raw.get("architectures")
    named = isinstance(archs, list) and any(a == "BertModel" for a in archs)
    return raw.get("model_type") == "bert" or named


@dataclass(frozen=True)
class EncoderConfig:
    architecture: str  # config.json's architectures[0] ("BertModel"), or "BertModel" if absent
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pooling: str  # "mean" or "cls"
    normalize: bool  # L2-normalize each embedding (a Normalize module)
    max_seq_length: int  # the longest text, in tokens, that runs without truncation
    do_lower_case: bool = False

    model_type = "bert"

    @classmethod
    def from_folder(cls, folder: Path, raw: dict[str, Any]) -> EncoderConfig:
        """From config.json's object `raw` and the sentence-transformers files beside it."""
        where = str(folder / "config.json")
        archs = raw.get("architectures") or ["BertModel"]
        if not isinstance(archs, list) or not archs or not isinstance(archs[0], str):
            raise ModelFormatError(f"{where}: architectures must be a list of names, got {archs!r}")
        if raw.get("model_type", "bert") != "bert":
            raise ModelFormatError(
                f"{where}: model_type {raw.get('model_type')!r} is not supported for an "
                "encoder (only 'bert')"
            )
        act = raw.get("hidden_act", "gelu")
        if act != "gelu":
            raise ModelFormatError(
                f"{where}: hidden_act={act!r} is not supported for an encoder (only 'gelu')"
            )
        position = raw.get("position_embedding_type", "absolute")
        if position != "absolute":
            raise ModelFormatError(
                f"{where}: position_embedding_type={position!r} is not supported (only 'absolute')"
            )
        for key in ("is_decoder", "add_cross_attention"):
            if raw.get(key):
                raise ModelFormatError(f"{where}: {key}=true is not supported (an encoder only)")
        if raw.get("chunk_size_feed_forward"):
            raise ModelFormatError(f"{where}: chunk_size_feed_forward is not supported")

        def size(key: str, default: int | None = None) -> int:
            return size_field(raw, key, where, default)

        hidden, heads = size("hidden_size"), size("num_attention_heads")
        if hidden % heads:
            raise ModelFormatError(
                f"{where}: hidden_size={hidden} is not a multiple of num_attention_heads={heads}"
            )
        positions = size("max_position_embeddings")
        pooling, normalize = _pipeline(folder, hidden)
        max_seq_length, lower = _sentence_bert_config(folder, positions)
        return cls(
            architecture=archs[0],
            hidden_size=hidden,
            intermediate_size=size("intermediate_size"),
            num_hidden_layers=size("num_hidden_layers"),
            num_attention_heads=heads,
            vocab_size=size("vocab_size"),
            max_position_embeddings=positions,
            type_vocab_size=size("type_vocab_size", 2),
            layer_norm_eps=positive_float_field(raw, "layer_norm_eps", 1e-12, where),
            pooling=pooling,
            normalize=normalize,
            max_seq_length=max_seq_length,
            do_lower_case=lower,
        )


def _pipeline(folder: Path, hidden: int) -> tuple[str, bool]:
    """(pooling mode, normalize) from modules.json and the Pooling module's config."""
    path = folder / "modules.json"
    if not path.exists():
        return "mean", False
    modules = read_json(path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelFormatError(f"{path}: expected a list of modules (objects)")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelFormatError(
            f"{path}: modules {kinds} are not supported (a Transformer, a Pooling and "
            "optionally a Normalize module, in that order)"
        )
    if modules[0].get("path", "") not in ("", "."):
        raise ModelFormatError(
            f"{path}: the Transformer module must be the folder itself (path ''), "
            f"got {modules[0].get('path')!r}"
        )
    pooling_path = modules[1].get("path")
    if not isinstance(pooling_path, str) or not pooling_path or ".." in Path(pooling_path).parts:
        raise ModelFormatError(f"{path}: bad path {pooling_path!r} of the Pooling module")
    return _pooling_mode(folder / pooling_path / "config.json", hidden), len(modules) == 3


def _pooling_mode(path: Path, hidden: int) -> str:
    if not path.exists():
        raise ModelFormatError(f"{path}: missing (the Pooling module's config)")
    raw = read_json_object(path)
    if "pooling_mode" in raw:
        mode = raw["pooling_mode"]
        if isinstance(mode, list) and len(mode) == 1:
            mode = mode[0]
    else:
        modes = [m for key, m in _LEGACY_POOLING.items() if raw.get(key)]
        mode = modes[0] if len(modes) == 1 else modes
    if mode not in POOLING_MODES:
        raise ModelFormatError(
            f"{path}: pooling mode {mode!r} is not supported (one of {', '.join(POOLING_MODES)})"
        )
    for key in ("embedding_dimension", "word_embedding_dimension"):
        if key in raw and raw[key] != hidden:
            raise ModelFormatError(
                f"{path}: field {key!r} is {raw[key]!r} but config.json's hidden_size is {hidden}"
            )
    return mode


def _sentence_bert_config(folder: Path, positions: int) -> tuple[int, bool]:
    """(max_seq_length, do_lower_case) from sentence_bert_config.json, if there is one."""
    path = folder / "sentence_bert_config.json"
    if not path.exists():
        return positions, False
    raw = read_json_object(path)
    where = str(path)
    length = positions
    if raw.get("max_seq_length") is not None:
        length = size_field(raw, "max_seq_length", where, None)
        if length > positions:
            raise ModelFormatError(
                f"{where}: max_seq_length={length} is beyond config.json's "
                f"max_position_embeddings={positions}"
            )
    lower = raw.get("do_lower_case", False)
    if not isinstance(lower, bool):
        raise ModelFormatError(f"{where}: field 'do_lower_case' must be a boolean, got {lower!r}")
    return length, lower
