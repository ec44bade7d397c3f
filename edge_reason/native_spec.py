"""The native engine's typed inputs (_native.ModelConfig, WeightsSpec), made from a model
config and the nested dict of arrays the weight loaders build (hf_weights, gguf_weights,
bundle): {"embedding": matrix, "final_norm", "lm_head": matrix, "rope_cos", "rope_sin",
"rope_local_cos"?, "rope_local_sin"?, "layers": [{"attn_norm", "wq": matrix, ...}]},
a matrix being {"format", "rows", "cols", "data", "scales"?, "zero_points"?}; and for an
encoder (_native.EncoderConfig, EncoderWeightsSpec) the dict of hf_weights.load_bert_weights.

The C++ side checks every value (edge_reason/_native, csrc/bindings.cpp): a field this
module cannot place is an error here, a bad value one there, naming the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _native
from .encoder_config import EncoderConfig
from .model_config import ModelConfig


def native_config(config: ModelConfig, max_context: int, max_batch: int) -> Any:
    """The engine's _native.ModelConfig (checked by check_config when made)."""
    optional: dict[str, Any] = {}
    if config.sliding_layers:
        optional["sliding_layers"] = list(config.sliding_layers)
    if config.attention_scale is not None:
        optional["attention_scale"] = config.attention_scale
    return _native.ModelConfig(
        dim=config.hidden_size,
        ffn_dim=config.intermediate_size,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        vocab=config.vocab_size,
        norm_eps=config.rms_norm_eps,
        sliding_window=config.sliding_window,
        max_context=max_context,
        max_batch=max_batch,
        activation=config.hidden_activation,
        embedding_scale=config.embedding_scale,
        **optional,
    )


def native_weights(tensors: Mapping[str, Any]) -> Any:
    """The _native.WeightsSpec that views the arrays of `tensors` (no copy)."""
    matrices = {"embedding", "lm_head"}
    fields = {k: _matrix(v) if k in matrices else v for k, v in tensors.items() if k != "layers"}
    layers = [
        _spec(_native.LayerSpec, {k: _matrix(v) if k[0] == "w" else v for k, v in layer.items()})
        for layer in tensors["layers"]
    ]
    return _spec(_native.WeightsSpec, {**fields, "layers": layers})


def native_encoder_config(config: EncoderConfig, max_tokens: int) -> Any:
    """The encoder's _native.EncoderConfig (checked by check_encoder_config when made)."""
    return _native.EncoderConfig(
        dim=config.hidden_size,
        ffn_dim=config.intermediate_size,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        vocab=config.vocab_size,
        type_vocab=config.type_vocab_size,
        max_positions=config.max_position_embeddings,
        max_tokens=max_tokens,
        norm_eps=config.layer_norm_eps,
        pooling=config.pooling,
        normalize=config.normalize,
    )


def native_encoder_weights(tensors: Mapping[str, Any]) -> Any:
    """The _native.EncoderWeightsSpec that views the arrays of `tensors` (no copy)."""
    fields = {k: _matrix(v) if k == "words" else v for k, v in tensors.items() if k != "layers"}
    kind = _native.EncoderLayerSpec
    layers = [
        _spec(kind, {k: _matrix(v) if k[0] == "w" else v for k, v in layer.items()})
        for layer in tensors["layers"]
    ]
    return _spec(_native.EncoderWeightsSpec, {**fields, "layers": layers})


def _matrix(fields: Mapping[str, Any]) -> Any:
    return _spec(_native.MatrixSpec, fields)


def _spec(kind: type, fields: Mapping[str, Any]) -> Any:
    spec = kind()
    for name, value in fields.items():
        setattr(spec, name, value)  # a name the kind lacks raises AttributeError
    return spec
