"""A Hugging Face Llama-family decoder rewritten as a pure function of its KV cache.

LiteRT signatures cannot hold state between calls, so the cache goes in as
inputs and comes back as outputs: one call runs a chunk of tokens at given
positions, writes their keys and values into the cache and returns the logits
after each of them. The layers' own modules (projections, norms, MLP, rotary
embedding) are reused as they are; only attention is rewritten, because the
transformers implementation keeps its cache in Python objects that
torch.export cannot turn into signature tensors.

Cache tensors are float32 [1, kv_heads, slots, head_dim], named k_cache_<i>
and v_cache_<i> for layer i.
"""

from __future__ import annotations

import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

# Added to the attention scores of cache slots a query may not see: large enough
# that softmax gives them exactly zero weight, finite so no NaN can arise.
_MASKED = -1e9


def cache_names(layers: int) -> list[str]:
    """Signature names of the cache tensors, in layer order (keys before values)."""
    return [f"{kind}_cache_{i}" for i in range(layers) for kind in ("k", "v")]


class CachedDecoder(torch.nn.Module):
    """forward(tokens [1, T] int32, input_pos [T] int32, **caches) -> logits and caches.

    input_pos gives each token's position; its keys and values land in that
    cache slot and it attends to slots 0..position (the last `sliding_window`
    of them when the model has one).
    """

    def __init__(self, model: torch.nn.Module, slots: int, sliding_window: int) -> None:
        super().__init__()
        self.model = model
        self.slots = slots
        self.sliding_window = sliding_window

    def forward(
        self, tokens: torch.Tensor, input_pos: torch.Tensor, **caches: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        inner = self.model.model
        count = tokens.shape[1]
        positions = input_pos.to(torch.long)
        hidden = inner.embed_tokens(tokens)
        cos, sin = inner.rotary_emb(hidden, positions[None])
        slot = torch.arange(self.slots)
        visible = slot[None, :] <= positions[:, None]
        if self.sliding_window:
            visible = visible & (slot[None, :] > positions[:, None] - self.sliding_window)
        score_bias = torch.where(visible, 0.0, _MASKED)

        outputs: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(inner.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(hidden)
            q = attn.q_proj(x).view(1, count, -1, attn.head_dim)
            k = attn.k_proj(x).view(1, count, -1, attn.head_dim)
            v = attn.v_proj(x).view(1, count, -1, attn.head_dim).transpose(1, 2)
            if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm per head before the rotation
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k = apply_rotary_pos_emb(q.transpose(1, 2), k.transpose(1, 2), cos, sin)
            k_cache = caches[f"k_cache_{i}"].index_copy(2, positions, k)
            v_cache = caches[f"v_cache_{i}"].index_copy(2, positions, v)
            outputs[f"k_cache_{i}"] = k_cache
            outputs[f"v_cache_{i}"] = v_cache
            # The query heads sharing a key/value head become rows of one matrix
            # product with it (head h uses kv head h // groups, as in transformers).
            # Repeating the cache per query head instead converts wrongly when
            # there is a single kv head.
            groups = attn.num_key_value_groups
            kv_heads = k_cache.shape[1]
            rows = q.reshape(1, kv_heads, groups * count, attn.head_dim)
            scores = rows @ k_cache.transpose(2, 3) * attn.scaling + score_bias.repeat(groups, 1)
            mixed = torch.softmax(scores, dim=-1) @ v_cache
            mixed = mixed.reshape(1, kv_heads * groups, count, attn.head_dim).transpose(1, 2)
            hidden = hidden + attn.o_proj(mixed.reshape(1, count, -1))
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        outputs["logits"] = self.model.lm_head(inner.norm(hidden))
        return outputs
