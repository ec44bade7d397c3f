"""GGUF files of random-weight models, in every tensor type the engine reads.

F32, F16, Q8_0 and Q4_0 come from the project's own writer (export/gguf_export.py);
BF16, Q4_1 and the K-quants from llama.cpp's quantize tool (through llama-cpp-python,
`pure`: every matrix in the one type), as users get them.
"""

from __future__ import annotations

from pathlib import Path

from edge_reason.export.gguf_export import write_gguf

GGUF_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K")
_OWN_WRITER = {"F32": "f32", "F16": "f16", "Q8_0": "q8_0", "Q4_0": "q4_0"}
# llama.cpp's llama_ftype for a file whose matrices are all of one type
_LLAMA_FTYPE = {"BF16": 32, "Q4_1": 3, "Q4_K": 15, "Q5_K": 17, "Q6_K": 18}

# Shapes that split into K-quant super-blocks (256 values) and into 32-value blocks.
GGUF_SHAPES = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4)


def write_gguf_of_type(hf_dir: Path, out: Path, type_name: str) -> Path:
    if type_name in _OWN_WRITER:
        return write_gguf(hf_dir, out, _OWN_WRITER[type_name], pure=True).path
    source = write_gguf(hf_dir, out.with_name(out.name + ".f32.gguf"), "f32").path
    quantize_with_llama_cpp(source, out, type_name)
    source.unlink()
    return out


def quantize_with_llama_cpp(source: Path, out: Path, type_name: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _LLAMA_FTYPE[type_name]
    params.pure = True
    params.allow_requantize = True
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params)
    if status != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {type_name}")
