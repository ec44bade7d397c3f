"""Names of one weight in the three places it lives: the Hugging Face module tree,
the exported ONNX graph, and the engine's tensor table (its "role").

Roles are the keys `edge_reason.bundle` reads: "embedding", "lm_head",
"final_norm" and "layers.<i>.<name>" with the names of the engine's layer dict.
"""

from __future__ import annotations

import re

# HF module under model.layers.<i>. -> engine name, for every linear layer.
LAYER_LINEARS = {
    "self_attn.q_proj": "wq",
    "self_attn.k_proj": "wk",
    "self_attn.v_proj": "wv",
    "self_attn.o_proj": "wo",
    "mlp.gate_proj": "w_gate",
    "mlp.up_proj": "w_up",
    "mlp.down_proj": "w_down",
}

# HF parameter under model.layers.<i>. -> engine name, for every vector.
LAYER_VECTORS = {
    "input_layernorm.weight": "attn_norm",
    "post_attention_layernorm.weight": "ffn_norm",
    "self_attn.q_proj.bias": "bq",
    "self_attn.k_proj.bias": "bk",
    "self_attn.v_proj.bias": "bv",
    "self_attn.o_proj.bias": "bo",
    "self_attn.q_norm.weight": "q_norm",
    "self_attn.k_norm.weight": "k_norm",
}

_LAYER_MODULE = re.compile(r"model\.layers\.(\d+)\.(.+)")
# optimum names each MatMul after the module path, e.g. /model/layers.0/mlp/up_proj/MatMul
_ONNX_MATMUL = re.compile(r"/model/layers\.(\d+)/(\w+)/(\w+)/MatMul")


def linear_role(module_name: str) -> str | None:
    """The role of a HF nn.Linear (e.g. model.layers.3.mlp.up_proj), None if not a weight."""
    if module_name == "lm_head":
        return "lm_head"
    return _layer_role(module_name, LAYER_LINEARS)


def vector_role(parameter_name: str) -> str | None:
    """The role of a HF vector parameter (a norm weight or a bias), None if not one."""
    if parameter_name == "model.norm.weight":
        return "final_norm"
    return _layer_role(parameter_name, LAYER_VECTORS)


def matmul_role(node_name: str) -> str | None:
    """The role of the weight an exported ONNX MatMul node multiplies by, None if none."""
    if node_name == "/lm_head/MatMul":
        return "lm_head"
    m = _ONNX_MATMUL.fullmatch(node_name)
    if m:
        return linear_role(f"model.layers.{m.group(1)}.{m.group(2)}.{m.group(3)}")
    return None


def _layer_role(name: str, engine_names: dict[str, str]) -> str | None:
    """The role layers.<i>.<engine name> of model.layers.<i>.<HF name>, if engine_names has it."""
    m = _LAYER_MODULE.fullmatch(name)
    if m and m.group(2) in engine_names:
        return f"layers.{m.group(1)}.{engine_names[m.group(2)]}"
    return None


EMBEDDING_GATHER = "/model/embed_tokens/Gather"
