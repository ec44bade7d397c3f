"""Write the seed corpus, corpus/<target>/: a few valid inputs per target and slightly
broken ones. Run it again (``python -m fuzz.make_seeds`` with tests/ on the path) after
changing a harness's input format; the seeds are committed."""

from __future__ import annotations

import hashlib
import json
import shutil

import gguf
import numpy as np
from edge_reason.heuristics.pack import PACKS_DIR

from edge_reason.bundle import ALIGNMENT, DATA_FILE, FORMAT_NAME, FORMAT_VERSION, ONNX_FILE
from edge_reason.safetensors_io import write_safetensors
from fuzz.fuzz_bundle import DATA_BYTES, ONNX_BYTES
from fuzz.harness import PART_SEPARATOR, SCRATCH
from fuzz.targets import TARGETS, corpus_dir

# The seed model: one layer, hidden size 8, vocabulary 16 (f32, every tensor at offset 0).
HIDDEN, LAYERS, VOCAB = 8, 1, 16


def bundle_manifest(**changes: object) -> bytes:
    def tensor(*shape: int) -> dict[str, object]:
        return {"file": DATA_FILE, "offset": 0, "shape": list(shape), "dtype": "float32"}

    def matrix(rows: int) -> dict[str, object]:
        return {"format": "f32", "rows": rows, "cols": HIDDEN, **tensor(rows, HIDDEN)}

    tensors: dict[str, object] = {"embedding": matrix(VOCAB), "lm_head": matrix(VOCAB)}
    tensors["final_norm"] = tensor(HIDDEN)
    for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
        tensors[f"layers.0.{name}"] = matrix(HIDDEN)
    for name in ("attn_norm", "ffn_norm"):
        tensors[f"layers.0.{name}"] = tensor(HIDDEN)
    files = {
        name: {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        for name, content in ((ONNX_FILE, ONNX_BYTES), (DATA_FILE, DATA_BYTES))
    }
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "architecture": {
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": HIDDEN,
            "intermediate_size": HIDDEN,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "num_hidden_layers": LAYERS,
            "vocab_size": VOCAB,
            "max_position_embeddings": 32,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
        },
        "quantization": {"scheme": "f32"},
        "tensors": tensors,
        "files": files,
    }
    manifest.update(changes)
    return json.dumps(manifest, indent=1).encode()


def bundle_seeds() -> dict[str, bytes]:
    valid = json.loads(bundle_manifest())
    misaligned = dict(valid["tensors"], final_norm={**valid["tensors"]["final_norm"]})
    misaligned["final_norm"]["offset"] = ALIGNMENT // 2
    return {
        "valid.json": bundle_manifest(),
        "misaligned.json": bundle_manifest(tensors=misaligned),
        "int8_scheme.json": bundle_manifest(quantization={"scheme": "int8"}),
        "truncated.json": bundle_manifest()[:300],
    }


def safetensors_seeds() -> dict[str, bytes]:
    path = SCRATCH / "seed.safetensors"
    write_safetensors(
        path,
        {
            "weight": ("F32", np.arange(12, dtype=np.float32).reshape(3, 4)),
            "half": ("BF16", np.arange(4, dtype=np.uint16)),
            "flag": ("BOOL", np.array([True, False])),
        },
    )
    valid = path.read_bytes()
    return {"valid.safetensors": valid, "truncated.safetensors": valid[:-5]}


def gguf_seeds() -> dict[str, bytes]:
    path = SCRATCH / "seed.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(32)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(HIDDEN)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(8)), "▁a", "▁b", "a", "b"]
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([2, 3, 3, *([6] * 8), 1, 1, 1, 1])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_tensor("token_embd.weight", np.ones((len(tokens), HIDDEN), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    valid = path.read_bytes()
    return {"valid.gguf": valid, "truncated.gguf": valid[: len(valid) // 2]}


def rule_pack_seeds() -> dict[str, bytes]:
    arithmetic = (PACKS_DIR / "arithmetic.toml").read_bytes()
    greenhouse = (PACKS_DIR / "greenhouse.toml").read_bytes()
    return {
        "arithmetic.toml": arithmetic,
        "greenhouse.toml": greenhouse,
        "bad_expression.toml": greenhouse.replace(b"<", b"<<", 1),
        "cut_short.toml": greenhouse[: len(greenhouse) // 2],
    }


def rule_expression_seeds() -> dict[str, bytes]:
    expressions = [
        "17*23 + 4",
        "x ** 2 - n // 3 % 5",
        "length to m + 3 km",
        "round(ratio * 100, 2) >= 25 and not open",
        'label == "north" or x != 3.5',
        "sqrt(2) * (1 + 2",
        "2 ** 10 ** 3",
    ]
    return {f"expression_{i}.txt": text.encode() for i, text in enumerate(expressions)}


def rule_question_seeds() -> dict[str, bytes]:
    questions = [
        ("What is 17*23 + 4?", ""),
        ("Convert 72 F to C", ""),
        ("What is 15% of 80?", ""),
        ("Where is Mary?", "Mary moved to the bathroom.\nJohn went to the hallway."),
    ]
    return {
        f"question_{i}.txt": question.encode() + PART_SEPARATOR + story.encode()
        for i, (question, story) in enumerate(questions)
    }


def stop_string_seeds() -> dict[str, bytes]:
    def seed(stops: str, text: str, ids: list[int]) -> bytes:
        packed = b"".join(i.to_bytes(2, "little") for i in ids)
        return PART_SEPARATOR.join([stops.encode(), text.encode(), packed])

    return {
        "plain.bin": seed("</s>\nUser:", "the answer is 42</s> more", []),
        "split_character.bin": seed("é", "café", [0xC3 - 0x21, 0x41]),
        "special.bin": seed("\n\n", "a\n\nb", [261, 5]),
    }


SEEDS = {
    "bundle": bundle_seeds,
    "safetensors": safetensors_seeds,
    "gguf": gguf_seeds,
    "rule_pack": rule_pack_seeds,
    "rule_expressions": rule_expression_seeds,
    "rule_questions": rule_question_seeds,
    "stop_strings": stop_string_seeds,
}


def main() -> None:
    assert sorted(SEEDS) == TARGETS, "a target without seeds, or seeds without a target"
    for target, make in SEEDS.items():
        folder = corpus_dir(target)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, content in make().items():
            (folder / name).write_bytes(content)


if __name__ == "__main__":
    main()
