"""The engine on emulated aarch64 against the same engine on the x86_64 host.

boards/cross-test.sh runs this file twice:

    python engine_parity.py write DIR   # on the host: a tiny random Llama model
                                        # (numpy + safetensors, no torch) and the
                                        # host engine's logits for it
    python engine_parity.py check DIR   # under qemu-aarch64, with the cross-built
                                        # engine: the same logits, per kernel variant

The check loads the model once per kernel variant the emulated CPU runs
(EDGE_REASON_KERNEL), so every ARM variant meets the host's numbers, and
exits non-zero on any mismatch. It needs only numpy, tokenizers and the
edge_reason package: aarch64 wheels of those are all the emulated Python has.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

# Sizes that are not multiples of the 32-element quantization block, so that
# the padded last block of every row is exercised on both architectures.
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 80,
    "intermediate_size": 136,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 101,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "bos_token_id": 1,
    "eos_token_id": 2,
}
QUANTS = ("f32", "int8", "int4")
# Thirteen tokens: the prefill path runs whole token tiles plus an odd tail.
PROMPT = "w10 w20 w30 w40 w50 w60 w70 w80 w90 w11 w22 w33 w44"
NEW_TOKENS = 8

# Largest allowed max|aarch64 - host| / std(host logits), per quantization.
# f32: only the order of float additions differs between the host's x86 kernel
# and each ARM kernel, worth a few float32 ulps per dot product.
# int8/int4: the integer dots are exact on both, but an activation computed
# a few ulps apart on the two machines can land on the other side of an int8
# rounding boundary, moving that value by one quantization step (max|x|/127 of
# its block); through the remaining layers that shifts logits by well under
# 1% of their spread on this model. Weight quantization is identical on both
# sides (the same code on the same float32 weights), so it adds nothing.
BOUNDS = {"f32": 1e-4, "int8": 1e-2, "int4": 1e-2}


def write(folder: Path) -> None:
    """Write the model, its tokenizer and the host engine's logits into folder."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from edge_reason import Engine

    folder.mkdir(parents=True, exist_ok=True)
    c = CONFIG
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    head_dim = d // c["num_attention_heads"]
    q_dim, kv_dim = d, head_dim * c["num_key_value_heads"]
    rng = np.random.default_rng(2024)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    tensors = {"model.embed_tokens.weight": matrix(v, d), "model.norm.weight": norm(d)}
    tensors["lm_head.weight"] = matrix(v, d)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = norm(d)
        tensors[p + "post_attention_layernorm.weight"] = norm(d)
        tensors[p + "self_attn.q_proj.weight"] = matrix(q_dim, d)
        tensors[p + "self_attn.k_proj.weight"] = matrix(kv_dim, d)
        tensors[p + "self_attn.v_proj.weight"] = matrix(kv_dim, d)
        tensors[p + "self_attn.o_proj.weight"] = matrix(d, q_dim)
        tensors[p + "mlp.gate_proj.weight"] = matrix(f, d)
        tensors[p + "mlp.up_proj.weight"] = matrix(f, d)
        tensors[p + "mlp.down_proj.weight"] = matrix(d, f)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(c, indent=2))

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, v)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))

    expected: dict[str, object] = {"prompt_ids": tokenizer.encode(PROMPT).ids}
    for quant in QUANTS:
        engine = Engine.load(folder, quant=quant, threads=1)
        np.save(folder / f"logits_{quant}.npy", engine.logits(expected["prompt_ids"]))
        if quant == "f32":
            expected["greedy_ids"] = engine.generate(PROMPT, max_new_tokens=NEW_TOKENS).token_ids
        expected.setdefault("host_kernel", engine.info()["kernel"])
    (folder / "expected.json").write_text(json.dumps(expected, indent=2))
    print(f"wrote {folder} (host kernel {expected['host_kernel']})")


def check(folder: Path, expect_kernel: str) -> int:
    """Compare every kernel variant this CPU runs with the host's logits; return failures."""
    from edge_reason import Engine, _native

    expected = json.loads((folder / "expected.json").read_text())
    failures = 0

    def report(ok: bool, line: str) -> None:
        nonlocal failures
        failures += not ok
        print(("ok   " if ok else "FAIL ") + line)

    default = Engine.load(folder, quant="f32", threads=2)
    picked = default.info()["kernel"]
    report(picked == expect_kernel, f"default kernel {picked} (expected {expect_kernel})")
    ids = default.encode(PROMPT)
    report(ids == expected["prompt_ids"], f"tokenizer ids {ids}")
    variants = [name for name, supported in _native.kernel_variants() if supported]
    for kernel in variants:
        os.environ["EDGE_REASON_KERNEL"] = kernel
        for quant in QUANTS:
            engine = Engine.load(folder, quant=quant, threads=2)
            used = engine.info()["kernel"]
            want = np.load(folder / f"logits_{quant}.npy")
            got = engine.logits(expected["prompt_ids"])
            same_shape = got.shape == want.shape
            err = float(np.max(np.abs(got - want)) / np.std(want)) if same_shape else np.inf
            ran = "" if used == kernel else f" but ran {used}"
            report(
                used == kernel and same_shape and err <= BOUNDS[quant],
                f"{kernel} {quant}: max|diff|/std = {err:.2e} (bound {BOUNDS[quant]:.0e}){ran}",
            )
            # The NEON kernels read interleaved copies of the quantized matrices, which
            # the engine makes at load; the scalar reference reads them in place.
            copied = engine.info()["interleaved_weight_bytes"]
            copies = kernel != "scalar" and quant != "f32"
            report(
                (copied > 0) == copies,
                f"{kernel} {quant}: {copied} bytes of interleaved weights",
            )
            if quant == "f32":
                greedy = engine.generate(PROMPT, max_new_tokens=NEW_TOKENS).token_ids
                report(greedy == expected["greedy_ids"], f"{kernel} f32: greedy tokens {greedy}")
    del os.environ["EDGE_REASON_KERNEL"]
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write", help="write the model and the host's logits").add_argument(
        "folder", type=Path
    )
    checker = sub.add_parser("check", help="compare this machine's engine with the host's")
    checker.add_argument("folder", type=Path)
    checker.add_argument("--expect-kernel", required=True, help="kernel the dispatcher must pick")
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder)
        return 0
    failures = check(args.folder, args.expect_kernel)
    print(f"{'FAILED' if failures else 'passed'}: {failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
