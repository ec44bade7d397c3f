"""Fuzz target: a bundle's manifest (bundle.json) with its tensor table, opened and verified
and the engine's weight views mapped from it. The listed files are fixed (their sizes and
hashes are in the seeds), so mutations reach past the checksums into the tensor table."""

from __future__ import annotations

from edge_reason.bundle import DATA_FILE, MANIFEST_NAME, ONNX_FILE, Bundle
from fuzz.harness import SCRATCH, expected, write_scratch

# The files every seed manifest lists; make_seeds.py writes manifests with these hashes.
ONNX_BYTES = b"onnx graph stand-in\n"
DATA_BYTES = bytes(range(256)) * 8  # 2 KiB: room for every tensor of the seed model
MAX_CONTEXT = 16

write_scratch(ONNX_FILE, ONNX_BYTES)
write_scratch(DATA_FILE, DATA_BYTES)


def TestOneInput(data: bytes) -> None:
    write_scratch(MANIFEST_NAME, data)
    with expected():
        bundle = Bundle.open(SCRATCH)
        bundle.chat_template()
        bundle.engine_weights(MAX_CONTEXT)
