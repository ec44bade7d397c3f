"""Fuzz target: a safetensors file, opened and every tensor read (mapped, by rows, widened)."""

from __future__ import annotations

from edge_reason.safetensors_io import SafetensorsFile, to_float32
from fuzz.harness import expected, write_scratch


def TestOneInput(data: bytes) -> None:
    with expected():
        tensors = SafetensorsFile(write_scratch("model.safetensors", data))
        for name, entry in tensors.entries.items():
            to_float32(tensors.array(name), entry.dtype)
            if len(entry.shape) == 2:
                tensors.read_rows(name, 0, entry.shape[0])
