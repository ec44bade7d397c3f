"""Random-weight models of real architectures, written with numpy alone.

Speed does not depend on weight values, so benchmarks and the quick start
build these locally instead of downloading a checkpoint. The tokenizer is
byte-level with the rest of the vocabulary filled by placeholder tokens: the
text a random model produces is noise, by construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .model_config import hf_config
from .safetensors_io import write_safetensors

# name -> config.json fields (published shapes of the real models)
SHAPES: dict[str, dict] = {
    "smollm2-135m": hf_config(
        "LlamaForCausalLM",
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
    ),
    "qwen2.5-0.5b": hf_config(
        "Qwen2ForCausalLM",
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    ),
}


def _tokenizer_json(vocab_size: int) -> dict:
    """Byte-level BPE over the 256 byte symbols, the rest of the ids filled with
    placeholder entries (plain vocabulary, not added tokens: the tokenizers
    library keeps a matcher over added tokens that costs ~1 KB each)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({f"<t{i}>": i for i in range(len(vocab), vocab_size - 1)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])  # the last id: end of sequence
    return json.loads(tok.to_str())


def write_random_model(shape: str, folder: str | Path, *, seed: int = 0) -> Path:
    """Write config.json, model.safetensors (bf16) and tokenizer.json for `shape`."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r} (known: {', '.join(sorted(SHAPES))})")
    cfg = dict(SHAPES[shape])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = D // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd

    def bf16(shape_: tuple[int, ...], scale: float) -> np.ndarray:
        x = rng.standard_normal(shape_, dtype=np.float32) * np.float32(scale)
        return (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bfloat16

    tensors = {
        "model.embed_tokens.weight": bf16((V, D), 1.0),
        "model.norm.weight": bf16((D,), 0.0) + 0x3F80,
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for name, shp in (
            ("self_attn.q_proj", (q, D)),
            ("self_attn.k_proj", (kv, D)),
            ("self_attn.v_proj", (kv, D)),
            ("self_attn.o_proj", (D, q)),
            ("mlp.gate_proj", (F, D)),
            ("mlp.up_proj", (F, D)),
            ("mlp.down_proj", (D, F)),
        ):
            tensors[p + name + ".weight"] = bf16(shp, shp[1] ** -0.5)
        if cfg["model_type"] == "qwen2":
            for name, n in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
                tensors[p + f"self_attn.{name}.bias"] = bf16((n,), 0.02)
        tensors[p + "input_layernorm.weight"] = bf16((D,), 0.0) + 0x3F80  # 1.0 in bfloat16
        tensors[p + "post_attention_layernorm.weight"] = bf16((D,), 0.0) + 0x3F80
    write_safetensors(folder / "model.safetensors", {k: ("BF16", v) for k, v in tensors.items()})
    cfg.update(torch_dtype="bfloat16", hidden_act="silu", eos_token_id=V - 1, bos_token_id=None)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer_json(V)))
    return folder
