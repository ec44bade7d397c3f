"""config.json -> ModelConfig: Gemma 3's fields and rope_scaling, each bad field named."""

from __future__ import annotations

from typing import Any

import pytest

from edge_reason.errors import ModelFormatError
from edge_reason.model_config import ARCHITECTURES, MODEL_TYPES, ModelConfig
from edge_reason.rope_scaling import DynamicScaling, LinearScaling, YarnScaling

LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "vocab_size": 100,
    "max_position_embeddings": 128,
}

# Gemma 3 270M's shape fields; the rest from Gemma3TextConfig's defaults.
GEMMA3 = {
    "architectures": ["Gemma3ForCausalLM"],
    "hidden_size": 640,
    "intermediate_size": 2048,
    "num_hidden_layers": 18,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "vocab_size": 262144,
    "max_position_embeddings": 32768,
    "sliding_window": 512,
    "torch_dtype": "bfloat16",
}


def config(base: dict[str, Any], **changes: Any) -> ModelConfig:
    return ModelConfig.from_dict({**base, **changes}, where="m/config.json")


def test_gemma3_defaults_follow_transformers() -> None:
    c = config(GEMMA3)
    assert c.head_dim == 256 and c.tie_word_embeddings
    assert c.sliding_layers == tuple((i + 1) % 6 != 0 for i in range(18))
    assert c.sliding_window == 512
    assert c.rope_theta == 1_000_000.0 and c.rope_local_theta == 10_000.0
    assert c.attention_scale == 256**-0.5
    assert c.hidden_activation == "gelu_tanh"
    assert c.post_norms and c.norm_weight_offset == 1.0
    # sqrt(640) = 25.298 in bfloat16, as transformers' bf16 embedding multiplies
    assert c.embedding_scale == 25.25
    assert config(GEMMA3, torch_dtype="float32").embedding_scale == pytest.approx(640**0.5)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_model_type_is_transformers_for_the_architecture(architecture: str) -> None:
    transformers = pytest.importorskip("transformers", reason="the [export] extra is not installed")
    model_class = getattr(transformers, architecture)
    assert MODEL_TYPES[architecture] == model_class.config_class.model_type


def test_gemma3_layer_types_override_the_pattern() -> None:
    types = ["full_attention", "sliding_attention"] * 9
    assert config(GEMMA3, layer_types=types).sliding_layers == (False, True) * 9
    assert config(GEMMA3, sliding_window_pattern=2).sliding_layers == (True, False) * 9


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden_activation": "gelu"}, r"hidden_activation='gelu' is not supported"),
        ({"layer_types": ["full_attention"] * 17}, r"layer_types must list one type per layer"),
        (
            {"layer_types": ["full_attention"] * 17 + ["chunked_attention"]},
            r"layer_types\[17\]='chunked_attention' is neither",
        ),
        ({"sliding_window_pattern": 0}, r"sliding_window_pattern must be positive"),
        ({"sliding_window": None}, r"field 'sliding_window' is missing"),
        ({"sliding_window": 0}, r"field 'sliding_window' is 0; it must be between 1 and"),
        ({"query_pre_attn_scalar": "x"}, r"field 'query_pre_attn_scalar' must be a number"),
        ({"rope_local_base_freq": -1.0}, r"'rope_local_base_freq' must be finite and positive"),
        ({"final_logit_softcapping": 30.0}, r"final_logit_softcapping=30.0 is not supported"),
        ({"attn_logit_softcapping": 50.0}, r"attn_logit_softcapping=50.0 is not supported"),
        ({"use_bidirectional_attention": True}, r"use_bidirectional_attention=true"),
        ({"torch_dtype": "float64"}, r"torch_dtype='float64' is not supported"),
    ],
)
def test_bad_gemma3_field_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelFormatError, match=r"m/config\.json: .*" + message):
        config(GEMMA3, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # 67108867 x 64 wraps to 192 in 32 bits: refused before any arithmetic in C++
        ({"num_attention_heads": 67108867, "head_dim": 64}, r"'num_attention_heads' is 67108867"),
        ({"num_attention_heads": 512, "head_dim": 2048}, r"num_attention_heads x head_dim"),
        ({"head_dim": 1 << 22}, r"field 'head_dim' is 4194304; it must be between 1 and 2048"),
        ({"hidden_size": 1 << 31}, r"field 'hidden_size' is 2147483648; it must be between"),
        ({"num_attention_heads": 0}, r"field 'num_attention_heads' is 0"),
        ({"num_key_value_heads": -2}, r"field 'num_key_value_heads' is -2"),
        ({"hidden_size": "64"}, r"field 'hidden_size' must be an integer, got '64'"),
        ({"vocab_size": True}, r"field 'vocab_size' must be an integer, got True"),
        ({"intermediate_size": 96.0}, r"field 'intermediate_size' must be an integer"),
        ({"num_hidden_layers": None}, r"field 'num_hidden_layers' is missing"),
        ({"rms_norm_eps": float("nan")}, r"'rms_norm_eps' must be finite and positive, got nan"),
        ({"rms_norm_eps": 0}, r"'rms_norm_eps' must be finite and positive, got 0"),
        ({"rope_theta": float("inf")}, r"'rope_theta' must be finite and positive, got inf"),
        ({"rope_theta": "big"}, r"field 'rope_theta' must be a number, got 'big'"),
    ],
)
def test_bad_size_or_float_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelFormatError, match=r"m/config\.json: .*" + message):
        config(LLAMA, **changes)


def test_rope_scaling_types() -> None:
    linear = config(LLAMA, rope_scaling={"type": "linear", "factor": 2}).rope_scaling
    assert linear == LinearScaling(factor=2.0)
    dynamic = config(LLAMA, rope_scaling={"rope_type": "dynamic", "factor": 2.0}).rope_scaling
    assert dynamic == DynamicScaling(factor=2.0, max_position_embeddings=128)
    yarn = config(LLAMA, rope_scaling={"rope_type": "yarn", "factor": 4.0}).rope_scaling
    assert isinstance(yarn, YarnScaling)
    # transformers' defaults: the original context is max_position_embeddings,
    # the attention factor 0.1 ln(factor) + 1.
    assert yarn.original_max_position_embeddings == 128
    assert yarn.attention_factor == pytest.approx(0.1 * 1.3862943611198906 + 1)
    assert (yarn.beta_fast, yarn.beta_slow, yarn.truncate) == (32.0, 1.0, True)
    assert config(LLAMA, rope_scaling={"rope_type": "default"}).rope_scaling is None


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        ({"rope_type": "linear"}, r"rope_scaling \(linear\): field 'factor' is missing"),
        ({"rope_type": "linear", "factor": "2"}, r"field 'factor' must be a number"),
        ({"rope_type": "dynamic", "factor": 0.5}, r"\(dynamic\): field 'factor' must be >= 1"),
        ({"rope_type": "yarn", "factor": float("inf")}, r"field 'factor' must be finite"),
        (
            {"rope_type": "yarn", "factor": 4.0, "beta_fast": 1.0, "beta_slow": 2.0},
            r"beta_fast \(1.0\) must not be below beta_slow",
        ),
        (
            {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 0},
            r"field 'original_max_position_embeddings' must be a positive integer",
        ),
        ({"rope_type": "yarn", "factor": 4.0, "truncate": "no"}, r"truncate must be true or"),
        ({"rope_type": "yarn", "factor": 4.0, "attention_factor": -1.0}, r"attention_factor"),
        (
            {"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0},
            r"\(llama3\): field 'low_freq_factor' is missing",
        ),
        ({"rope_type": "longrope", "factor": 4.0}, r"rope_scaling type 'longrope'"),
        ([1, 2], r"rope_scaling must be an object or null"),
    ],
)
def test_bad_rope_scaling_field_is_named(scaling: Any, message: str) -> None:
    with pytest.raises(ModelFormatError, match=r"m/config\.json: .*" + message):
        config(LLAMA, rope_scaling=scaling)
