"""Put quantized weights into the exported f32 graph.

Every weight MatMul becomes a com.microsoft MatMulNBits (bits 8 or 4, block 32,
no zero points: the implied 128 or 8), and the embedding Gather becomes a
GatherBlockQuantized over the int8 rows (bits 8, the same layout as an int8
MatMulNBits weight) followed by a Slice when the hidden size is not a multiple
of 32 (the rows carry the padding of their last block). Initializers and nodes
left unused (the f32 weights, a transpose of a tied embedding) are dropped.

accuracy_level 4 makes onnxruntime quantize activations to int8 per block, as
the native engine does, so the two backends round alike.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .quantize import BLOCK, QuantizedMatrix, QuantizedWeights
from .roles import EMBEDDING_GATHER, matmul_role

MS_DOMAIN = "com.microsoft"
ACCURACY_LEVEL_INT8 = 4


def role_initializer_names(role: str) -> tuple[str, str]:
    """Names of the codes and scales initializers of a quantized matrix."""
    return f"{role}.codes", f"{role}.scales"


def _add_matrix(graph: onnx.GraphProto, role: str, q: QuantizedMatrix, codes_shape=None) -> None:
    codes_name, scales_name = role_initializer_names(role)
    codes = q.codes if codes_shape is None else q.codes.reshape(codes_shape)
    graph.initializer.extend(
        [numpy_helper.from_array(codes, codes_name), numpy_helper.from_array(q.scales, scales_name)]
    )


def _matmul_nbits(node: onnx.NodeProto, role: str, q: QuantizedMatrix) -> onnx.NodeProto:
    codes_name, scales_name = role_initializer_names(role)
    return helper.make_node(
        "MatMulNBits",
        [node.input[0], codes_name, scales_name],
        list(node.output),
        name=node.name + f"_Q{q.bits}",
        domain=MS_DOMAIN,
        K=q.cols,
        N=q.rows,
        bits=q.bits,
        block_size=BLOCK,
        accuracy_level=ACCURACY_LEVEL_INT8,
    )


def _embedding_nodes(node: onnx.NodeProto, q: QuantizedMatrix) -> list[onnx.NodeProto]:
    codes_name, scales_name = role_initializer_names("embedding")
    ids = node.input[1]
    padded = q.codes.shape[1] * BLOCK != q.cols
    gathered = node.output[0] + "_padded" if padded else node.output[0]
    nodes = [
        helper.make_node(
            "GatherBlockQuantized",
            [codes_name, ids, scales_name],
            [gathered],
            name=node.name + "_Q8",
            domain=MS_DOMAIN,
            gather_axis=0,
            quantize_axis=1,
            block_size=BLOCK,
            bits=8,
        )
    ]
    if padded:
        nodes.append(
            helper.make_node(
                "Slice",
                [gathered, "embedding.slice_start", "embedding.slice_end", "embedding.slice_axis"],
                list(node.output),
                name=node.name + "_unpad",
            )
        )
    return nodes


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing reads, then initializers nothing reads."""
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def quantize_graph(model: onnx.ModelProto, weights: QuantizedWeights) -> onnx.ModelProto:
    """Rewrite an f32 optimum export (changed in place and returned)."""
    graph = model.graph
    replaced: set[str] = set()
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        role = matmul_role(node.name) if node.op_type == "MatMul" else None
        if role is not None:
            if role not in weights.matrices:
                raise ValueError(f"the ONNX graph multiplies by {role}, which was not quantized")
            new_nodes.append(_matmul_nbits(node, role, weights.matrices[role]))
            replaced.add(role)
        elif node.op_type == "Gather" and node.name == EMBEDDING_GATHER:
            new_nodes.extend(_embedding_nodes(node, weights.embedding))
            replaced.add("embedding")
        else:
            new_nodes.append(node)
    missing = (set(weights.matrices) | {"embedding"}) - replaced
    if missing:
        raise ValueError(f"the ONNX graph has no node for {sorted(missing)} (unexpected export)")
    del graph.node[:]
    graph.node.extend(new_nodes)
    for role, q in weights.matrices.items():
        _add_matrix(graph, role, q)
    emb = weights.embedding
    _add_matrix(graph, "embedding", emb, codes_shape=(emb.rows, -1))
    if emb.codes.shape[1] * BLOCK != emb.cols:
        graph.initializer.extend(
            numpy_helper.from_array(np.array([v], dtype=np.int64), name)
            for name, v in (
                ("embedding.slice_start", 0),
                ("embedding.slice_end", emb.cols),
                ("embedding.slice_axis", -1),
            )
        )
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    _prune(graph)
    return model
