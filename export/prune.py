"""A smaller student's first weights, cut from its teacher by width pruning.

A student that starts as a pruned copy of its teacher already computes much of what the
teacher does, and distillation then has to repair the cut rather than learn the task from
nothing (the approach of NVIDIA's Minitron: prune by activation importance, then distill).
On this project's 2-core machine that is the difference between a student stage of hours
and one of days.

What is cut, each by how much it carries on real data (summed over the real tokens of the
batches given, padding excluded):

- hidden channels: the magnitude of every RMSNorm output (before each attention and MLP
  block and at the end), so a channel the teacher's blocks read loudly stays;
- attention heads, as whole key/value groups (grouped-query attention shares one key and
  value head among its query heads): the L2 norm of the group's heads' outputs at the
  input of ``o_proj``;
- MLP neurons: the magnitude of their activation at the input of ``down_proj``.

The student keeps the teacher's layers (same count) and ``head_dim``, and the teacher's
vocabulary; only the widths shrink. Kept indices stay in the teacher's order. RMSNorm
divides by the root mean square of the channels that remain, which the cut changes: the
student starts near the teacher, not equal to it, and distillation closes the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class PruneError(ValueError):
    """The student's shape cannot be cut from the teacher's."""


@dataclass
class Importance:
    """How much each prunable unit of a teacher carries (larger keeps it)."""

    hidden: torch.Tensor  # [hidden_size]
    kv_groups: list[torch.Tensor]  # per layer, [num_key_value_heads]
    neurons: list[torch.Tensor]  # per layer, [intermediate_size]


def measure_importance(
    model: Any, batches: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]]
) -> Importance:
    """Run ``model`` over ``batches`` of (model inputs, bool [B, L] mask of real tokens)."""
    import torch

    config = model.config
    layers = model.model.layers
    groups = config.num_key_value_heads
    hidden = torch.zeros(config.hidden_size, dtype=torch.float64)
    kv_groups = [torch.zeros(groups, dtype=torch.float64) for _ in layers]
    neurons = [torch.zeros(config.intermediate_size, dtype=torch.float64) for _ in layers]
    real: list[torch.Tensor] = []  # the current batch's mask, [B, L, 1]

    def masked(x: torch.Tensor) -> torch.Tensor:
        return x.detach().double() * real[0]

    def norm_output(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        hidden.add_(masked(output).abs().sum(dim=(0, 1)))

    def attention_output(index: int) -> Any:
        def hook(_module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
            x = masked(inputs[0])
            per_group = x.reshape(*x.shape[:2], groups, -1)
            kv_groups[index].add_(per_group.norm(dim=-1).sum(dim=(0, 1)))

        return hook

    def mlp_activation(index: int) -> Any:
        def hook(_module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
            neurons[index].add_(masked(inputs[0]).abs().sum(dim=(0, 1)))

        return hook

    handles = [model.model.norm.register_forward_hook(norm_output)]
    for index, layer in enumerate(layers):
        handles += [
            layer.input_layernorm.register_forward_hook(norm_output),
            layer.post_attention_layernorm.register_forward_hook(norm_output),
            layer.self_attn.o_proj.register_forward_pre_hook(attention_output(index)),
            layer.mlp.down_proj.register_forward_pre_hook(mlp_activation(index)),
        ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for inputs, mask in batches:
                real[:] = [mask.to(torch.float64)[..., None]]
                model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return Importance(hidden, kv_groups, neurons)


def prune(teacher: Any, student_config: Any, importance: Importance) -> Any:
    """A model of ``student_config`` whose weights are the teacher's most important slices."""
    import torch
    import transformers

    _check_shapes(teacher.config, student_config)
    t, s = teacher.config, student_config
    head_dim = _head_dim(t)
    per_group = t.num_attention_heads // t.num_key_value_heads
    keep_hidden = _top(importance.hidden, s.hidden_size)
    # which teacher rows and columns each student weight keeps (None: all)
    keep: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]] = {
        "model.embed_tokens.weight": (None, keep_hidden),
        "lm_head.weight": (None, keep_hidden),
        "model.norm.weight": (keep_hidden, None),
    }
    for index in range(t.num_hidden_layers):
        groups = _top(importance.kv_groups[index], s.num_key_value_heads)
        kv_rows = _rows_of(groups, head_dim)
        heads = (groups[:, None] * per_group + torch.arange(per_group)).reshape(-1)
        q_rows = _rows_of(heads, head_dim)
        neurons = _top(importance.neurons[index], s.intermediate_size)
        layer = {
            "input_layernorm.weight": (keep_hidden, None),
            "post_attention_layernorm.weight": (keep_hidden, None),
            "self_attn.q_proj.weight": (q_rows, keep_hidden),
            "self_attn.q_proj.bias": (q_rows, None),
            "self_attn.k_proj.weight": (kv_rows, keep_hidden),
            "self_attn.k_proj.bias": (kv_rows, None),
            "self_attn.v_proj.weight": (kv_rows, keep_hidden),
            "self_attn.v_proj.bias": (kv_rows, None),
            "self_attn.o_proj.weight": (keep_hidden, q_rows),
            "self_attn.o_proj.bias": (keep_hidden, None),
            "self_attn.q_norm.weight": (None, None),  # per head_dim (Qwen3): unchanged
            "self_attn.k_norm.weight": (None, None),
            "mlp.gate_proj.weight": (neurons, keep_hidden),
            "mlp.up_proj.weight": (neurons, keep_hidden),
            "mlp.down_proj.weight": (keep_hidden, neurons),
        }
        keep.update({f"model.layers.{index}.{name}": cut for name, cut in layer.items()})
    cut: dict[str, torch.Tensor] = {}
    for name, tensor in teacher.state_dict().items():
        if name not in keep:
            raise PruneError(f"teacher weight {name!r}: not a Llama-family weight this cut knows")
        rows, columns = keep[name]
        if rows is not None:
            tensor = tensor[rows]
        if columns is not None:
            tensor = tensor[:, columns]
        cut[name] = tensor.clone()
    student = transformers.AutoModelForCausalLM.from_config(student_config, dtype=torch.float32)
    missing, unexpected = student.load_state_dict(cut, strict=False)
    # a tied head is one tensor with the embedding: the state dict may name it once
    missing = [m for m in missing if not (m == "lm_head.weight" and s.tie_word_embeddings)]
    if missing or unexpected:
        raise PruneError(
            f"the cut teacher does not fit the student: missing {missing}, unexpected {unexpected}"
        )
    return student


def _check_shapes(t: Any, s: Any) -> None:
    """Refuse a student that is not a narrower copy of the teacher, saying which field."""
    if s.model_type != t.model_type:
        raise PruneError(
            f"student model_type {s.model_type!r} differs from the teacher's {t.model_type!r}"
        )
    same = ("num_hidden_layers", "vocab_size", "tie_word_embeddings")
    for field in same:
        if getattr(s, field) != getattr(t, field):
            raise PruneError(
                f"student {field} {getattr(s, field)} differs from the teacher's "
                f"{getattr(t, field)}: width pruning keeps it"
            )
    if _head_dim(s) != _head_dim(t):
        raise PruneError(
            f"student head_dim {_head_dim(s)} differs from the teacher's {_head_dim(t)}: heads "
            "are kept or cut whole (make hidden_size / num_attention_heads match)"
        )
    t_ratio = t.num_attention_heads // t.num_key_value_heads
    s_ratio = s.num_attention_heads // s.num_key_value_heads
    if s_ratio != t_ratio or s.num_attention_heads % s.num_key_value_heads:
        raise PruneError(
            f"student has {s.num_attention_heads} query heads for {s.num_key_value_heads} "
            f"key/value heads, the teacher {t_ratio} per key/value head: key/value groups are "
            "cut whole, so the ratio must stay"
        )
    for field in ("hidden_size", "num_key_value_heads", "intermediate_size"):
        if getattr(s, field) > getattr(t, field):
            raise PruneError(
                f"student {field} {getattr(s, field)} exceeds the teacher's {getattr(t, field)}"
            )
        if getattr(s, field) < 1:
            raise PruneError(f"student {field} must be at least 1")


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _top(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` largest scores, in ascending index order."""
    import torch

    return torch.topk(scores, count).indices.sort().values.to(torch.long)


def _rows_of(heads: torch.Tensor, head_dim: int) -> torch.Tensor:
    """The projection rows of ``heads`` (head h owns rows h*head_dim .. (h+1)*head_dim - 1)."""
    import torch

    return (heads[:, None] * head_dim + torch.arange(head_dim)).reshape(-1)
