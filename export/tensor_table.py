"""The manifest's tensor table: engine role -> where its bytes lie in model.onnx.data.

Quantized matrices are found by their initializer names (onnx_graph.py names
them after the role). Vectors (norm weights, biases) are found by content: the
exporter may rename or merge identical initializers, but it cannot change
their bytes without changing the model.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from ..bundle import DATA_FILE
from .bundle import StoredTensors
from .onnx_graph import role_initializer_names
from .quantize import QuantizedMatrix, QuantizedWeights
from .roles import vector_role


def _matrix_entry(stored: StoredTensors, role: str, q: QuantizedMatrix) -> dict[str, Any]:
    codes_name, scales_name = role_initializer_names(role)
    try:
        codes, scales = stored.by_name[codes_name], stored.by_name[scales_name]
    except KeyError as e:
        raise ValueError(f"the written graph lost the initializer {e}") from e
    codes = {**codes, "shape": list(q.codes.shape)}  # the engine's [N, nb, bytes] view
    return {"format": q.engine_format, "rows": q.rows, "cols": q.cols, **codes, "scales": scales}


def _vector_entry(stored: StoredTensors, name: str, value: np.ndarray) -> dict[str, Any]:
    digest = hashlib.sha256(np.ascontiguousarray(value, dtype=np.float32).tobytes()).hexdigest()
    offset = stored.offset_by_sha256.get(digest)
    if offset is None:
        raise ValueError(f"the ONNX graph holds no initializer with the values of {name}")
    return {"file": DATA_FILE, "offset": offset, "shape": list(value.shape), "dtype": "float32"}


def tensor_table(
    model: torch.nn.Module, weights: QuantizedWeights, stored: StoredTensors
) -> dict[str, dict[str, Any]]:
    table = {role: _matrix_entry(stored, role, q) for role, q in weights.matrices.items()}
    table["embedding"] = _matrix_entry(stored, "embedding", weights.embedding)
    for name, param in model.named_parameters():
        role = vector_role(name)
        if role is not None:
            table[role] = _vector_entry(stored, name, param.detach().numpy())
    return dict(sorted(table.items()))
