"""Random-weight Hugging Face models and a byte-level BPE tokenizer, built locally.

Weights are re-drawn with unit-scale statistics (transformers' default init
gives near-uniform logits, where greedy decoding would hinge on 1e-7
differences). Shapes are deliberately not multiples of 32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from edge_reason.model_config import hf_config

CORPUS = [
    "Mary moved to the bathroom. John went to the hallway. Where is Mary? bathroom",
    "Daniel picked up the football. Sandra journeyed to the garden. Where is the football?",
    "What is 17*23 + 4? 17*23 = 391, 391 + 4 = 395. #### 395",
    "Café, naïve, über, 東京, ünïcödé — every edge device should stream UTF-8 safely.",
    "The greenhouse is warm; soil moisture is low, so the valve opens for 5 minutes.",
]

# name -> config fields (the architecture-specific features each exercises)
CONFIGS = {
    "llama": hf_config(
        "LlamaForCausalLM",
        hidden_size=72,
        intermediate_size=100,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        rope_theta=5000.0,
        rope_scaling=dict(
            rope_type="llama3",
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=64,
        ),
    ),
    "qwen2": hf_config(
        "Qwen2ForCausalLM",
        hidden_size=64,
        intermediate_size=136,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        tie_word_embeddings=True,
        rope_theta=1000000.0,
    ),
    "qwen3": hf_config(
        "Qwen3ForCausalLM",
        hidden_size=48,
        head_dim=32,
        intermediate_size=90,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    ),
    "mistral": hf_config(
        "MistralForCausalLM",
        hidden_size=80,
        intermediate_size=112,
        num_hidden_layers=2,
        num_attention_heads=5,
        num_key_value_heads=5,
        tie_word_embeddings=False,
        sliding_window=24,
    ),
    "gemma3": hf_config(
        "Gemma3ForCausalLM",
        hidden_size=56,
        head_dim=18,
        intermediate_size=76,
        num_hidden_layers=6,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        # Every third layer full: both kinds, with a window the test prompts cross.
        sliding_window=12,
        sliding_window_pattern=3,
        query_pre_attn_scalar=24,
        rope_theta=20000.0,
        rope_local_base_freq=100.0,
        rope_scaling=dict(rope_type="linear", factor=4.0),
    ),
}


def train_tokenizer(
    path: Path, vocab_size: int = 320, special_tokens: Sequence[str] = ("<eos>",)
) -> Tokenizer:
    """special_tokens take the first ids, inside vocab_size (the first is the eos)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(special_tokens),
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.save(str(path))
    return tok


def build_model(
    folder: Path, name: str, vocab_size: int = 320, seed: int = 0, **overrides: object
) -> Path:
    """Write a random-weight model `name` (a key of CONFIGS, its fields replaced by
    `overrides`) with a tokenizer."""
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    fields = {"max_position_embeddings": 512, **CONFIGS[name], **overrides}
    arch = fields.pop("architectures")[0]
    model_type = fields.pop("model_type")
    config = transformers.AutoConfig.for_model(
        model_type,
        vocab_size=vocab_size,
        rms_norm_eps=1e-5,
        eos_token_id=0,
        bos_token_id=None,
        torch_dtype="float32",
        **fields,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, arch)(config).eval()
    # Gemma's RMSNorm scales by (1 + w): the same effective scales as the others.
    norm_center = 0.0 if model_type.startswith("gemma") else 1.0
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(norm_center + 0.1 * torch.randn_like(p))
            elif p.ndim == 2:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
            else:  # biases
                p.copy_(0.1 * torch.randn_like(p))
        model.get_input_embeddings().weight.mul_(3.0)
    model.save_pretrained(folder, safe_serialization=True)
    train_tokenizer(folder / "tokenizer.json", vocab_size)
    return folder


def load_reference(folder: Path):
    import transformers

    return transformers.AutoModelForCausalLM.from_pretrained(
        folder, torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
