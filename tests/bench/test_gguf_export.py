"""The GGUF converter: tensors and metadata read back, vocabulary, and llama.cpp agreeing
with the native engine on the converted model."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf", reason="the GGUF converter needs the gguf package ([bench])")

from edge_reason.export.gguf_export import read_vocabulary, write_gguf  # noqa: E402

from edge_reason.engine import Engine  # noqa: E402
from edge_reason.errors import ModelFormatError  # noqa: E402
from edge_reason.safetensors_io import SafetensorsFolder  # noqa: E402

needs_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (the optional llama.cpp baseline)",
)
PROMPT = [5, 77, 200, 31, 150, 9, 300, 42] * 4


def read_back(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    reader = gguf.GGUFReader(path)
    values = {t.name: gguf.dequantize(t.data, t.tensor_type) for t in reader.tensors}
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    fields = {name: f.contents() for name, f in reader.fields.items()}
    return values, types, fields


def hf_order(rows: np.ndarray, heads: int) -> np.ndarray:
    """Undo the converter's per-head (x[i], x[i + d/2]) -> adjacent-pairs row order."""
    d = rows.shape[0] // heads
    return rows.reshape(heads, d // 2, 2, -1).swapaxes(1, 2).reshape(rows.shape)


@pytest.mark.parametrize("quant", ["f32", "f16", "q8_0", "q4_0"])
def test_qwen2_tensors_read_back_within_the_quantization_error(
    tiny_models: dict[str, Path], tmp_path: Path, quant: str
) -> None:
    folder = tiny_models["qwen2"]
    summary = write_gguf(folder, tmp_path / "m.gguf", quant)
    values, types, fields = read_back(summary.path)
    st = SafetensorsFolder(folder)

    q = st.float32("model.layers.1.self_attn.q_proj.weight", (64, 64))
    got = values["blk.1.attn_q.weight"]
    # Steps of 1/8 (Q4_0) or 1/127 (Q8_0) of the block's largest magnitude, plus
    # the f16 scale's rounding; Q4_0 spans [-8, 7] steps, so a value opposite the
    # extreme can clip by up to one whole step.
    blocks = np.abs(q).reshape(64, 2, 32).max(-1, keepdims=True)
    bound = {"f32": 0, "f16": 1e-3 * blocks, "q8_0": blocks / 254 + 1e-3 * blocks}
    bound["q4_0"] = blocks / 8 + 1e-3 * blocks
    assert np.all(np.abs(got - q).reshape(64, 2, 32) <= bound[quant])
    np.testing.assert_array_equal(
        values["blk.0.attn_k.bias"], st.float32("model.layers.0.self_attn.k_proj.bias", (16,))
    )
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert "output.weight" not in types  # tied: llama.cpp reads token_embd as the head
    # ffn_down's rows (136 values) do not split into 32-value blocks
    if quant in ("q8_0", "q4_0"):
        # the tied head: Q8_0 in a Q4_0 file too, as llama.cpp's quantize tool keeps it
        assert types["token_embd.weight"] == "Q8_0"
        assert summary.f16_fallbacks == ("blk.0.ffn_down.weight", "blk.1.ffn_down.weight")
        assert types["blk.0.ffn_down.weight"] == "F16"
    assert fields["general.architecture"] == "qwen2"
    assert fields["qwen2.attention.head_count_kv"] == 1
    assert fields["qwen2.block_count"] == 2
    assert fields["tokenizer.ggml.eos_token_id"] == 0
    assert fields["tokenizer.ggml.pre"] == "gpt-2"


def test_a_pure_q4_0_file_keeps_the_head_in_q4_0(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    summary = write_gguf(tiny_models["qwen2"], tmp_path / "m.gguf", "q4_0", pure=True)
    assert summary.tensor_types["token_embd.weight"] == "Q4_0"
    assert summary.tensor_types["blk.0.attn_q.weight"] == "Q4_0"


def test_llama_rows_pair_up_for_llama_cpp_rope_and_scaling_becomes_rope_freqs(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tiny_models["llama"]
    values, types, _ = read_back(write_gguf(folder, tmp_path / "m.gguf", "f32").path)
    st = SafetensorsFolder(folder)
    q = st.float32("model.layers.0.self_attn.q_proj.weight", (72, 72))
    k = st.float32("model.layers.0.self_attn.k_proj.weight", (36, 72))
    np.testing.assert_array_equal(hf_order(values["blk.0.attn_q.weight"], 4), q)
    np.testing.assert_array_equal(hf_order(values["blk.0.attn_k.weight"], 2), k)
    assert not np.array_equal(values["blk.0.attn_q.weight"], q)
    np.testing.assert_array_equal(values["output.weight"], st.float32("lm_head.weight", (320, 72)))
    # Llama-3 scaling: long wavelengths slowed by factor 8, the shortest kept.
    freqs = values["rope_freqs.weight"]
    assert freqs.shape == (9,) and freqs[0] == 1.0 and freqs[-1] == pytest.approx(8.0)


def test_vocabulary_marks_special_tokens_and_pads_to_the_model_size(
    tiny_models: dict[str, Path],
) -> None:
    path = tiny_models["qwen2"] / "tokenizer.json"
    vocab = read_vocabulary(path, 325)
    spec = json.loads(path.read_text())
    assert len(vocab.tokens) == len(vocab.token_types) == 325
    assert vocab.tokens[0] == "<eos>" and vocab.token_types[0] == gguf.TokenType.CONTROL
    assert vocab.tokens[321:] == ["[PAD321]", "[PAD322]", "[PAD323]", "[PAD324]"]
    assert set(vocab.token_types[320:]) == {gguf.TokenType.UNUSED}
    assert len(vocab.merges) == len(spec["model"]["merges"]) and " " in vocab.merges[0]
    with pytest.raises(ModelFormatError, match="outside the model's vocab_size 300"):
        read_vocabulary(path, 300)


def test_unknown_pre_tokenizer_and_architecture_are_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["qwen2"], folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFormatError, match="Whitespace.*no llama.cpp equivalent"):
        write_gguf(folder, tmp_path / "m.gguf", "f32")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["MistralForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="architecture MistralForCausalLM"):
        write_gguf(folder, tmp_path / "m.gguf", "f32")
    with pytest.raises(ValueError, match="quant must be one of"):
        write_gguf(folder, tmp_path / "m.gguf", "q5_k")
    assert not list(tmp_path.glob("m.gguf*"))  # nothing half-written


def test_rope_scaling_other_than_llama3_is_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["llama"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="rope_scaling other than llama3"):
        write_gguf(folder, tmp_path / "m.gguf", "f32")


def test_gemma3_is_written_as_llama_cpp_converts_it(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tiny_models["gemma3"]
    values, types, fields = read_back(write_gguf(folder, tmp_path / "m.gguf", "f32").path)
    st = SafetensorsFolder(folder)
    # Gemma's RMSNorm scales by (1 + w): llama.cpp reads the scale itself
    for gguf_name, hf_name in (
        ("blk.1.attn_norm", "input_layernorm"),
        ("blk.1.post_attention_norm", "post_attention_layernorm"),
        ("blk.1.ffn_norm", "pre_feedforward_layernorm"),
        ("blk.1.post_ffw_norm", "post_feedforward_layernorm"),
    ):
        w = st.float32(f"model.layers.1.{hf_name}.weight", (56,))
        np.testing.assert_array_equal(values[gguf_name + ".weight"], w + 1)
    w = st.float32("model.layers.0.self_attn.q_norm.weight", (18,))
    np.testing.assert_array_equal(values["blk.0.attn_q_norm.weight"], w + 1)
    np.testing.assert_array_equal(
        values["output_norm.weight"], st.float32("model.norm.weight", (56,)) + 1
    )
    # q and k in Hugging Face order (llama.cpp runs Gemma's RoPE as rotate-half)
    q = st.float32("model.layers.0.self_attn.q_proj.weight", (72, 56))
    np.testing.assert_array_equal(values["blk.0.attn_q.weight"], q)
    assert "rope_freqs.weight" not in types and "output.weight" not in types
    assert fields["gemma3.attention.sliding_window"] == 12
    # every third layer full, where llama.cpp would assume every sixth
    assert fields["gemma3.attention.sliding_window_pattern"] == [True, True, False] * 2
    assert fields["gemma3.rope.freq_base"] == 20000.0
    assert fields["gemma3.rope.freq_base_swa"] == 100.0
    assert fields["gemma3.rope.scaling.type"] == "linear"
    assert fields["gemma3.rope.scaling.factor"] == 4.0


def test_gemma3_every_sixth_layer_full_needs_no_pattern_key(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["gemma3"], folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("layer_types")
    config["sliding_window_pattern"] = 6
    (folder / "config.json").write_text(json.dumps(config))
    _, _, fields = read_back(write_gguf(folder, tmp_path / "m.gguf", "f32").path)
    assert "gemma3.attention.sliding_window_pattern" not in fields  # llama.cpp's default


def test_gemma3_query_scaling_llama_cpp_would_not_derive_is_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["gemma3"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["query_pre_attn_scalar"] = 24
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="query_pre_attn_scalar other than 18"):
        write_gguf(folder, tmp_path / "m.gguf", "f32")


@needs_llama_cpp
@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3", "gemma3"])
def test_llama_cpp_logits_match_the_native_engine(
    tiny_models: dict[str, Path], tmp_path: Path, arch: str
) -> None:
    from edge_reason.bench.llamacpp_backend import LlamaCppBackend

    path = write_gguf(tiny_models[arch], tmp_path / "m.gguf", "f32").path
    reference = Engine.load(path, quant="f32", threads=1).logits(PROMPT)  # the same file
    backend = LlamaCppBackend(str(path), threads=1, max_context=64)
    try:
        got = backend.logits(PROMPT)
    finally:
        backend.close()
    # llama.cpp keeps its KV cache in f16: measured 9e-4 (qwen2), 1e-3 (qwen3), 1.3e-3
    # (llama) and 4.6e-4 (gemma3, the prompt past its sliding window) of the largest logit.
    assert np.abs(got - reference).max() <= 3e-3 * np.abs(reference).max()
    np.testing.assert_array_equal(got.argmax(-1), reference.argmax(-1))


@needs_llama_cpp
def test_llama_cpp_runs_q8_0_close_to_f32_and_times_a_generation(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from edge_reason.bench.llamacpp_backend import LlamaCppBackend

    reference = Engine.load(tiny_models["qwen2"], quant="f32", threads=1).logits(PROMPT)
    path = write_gguf(tiny_models["qwen2"], tmp_path / "m.gguf", "q8_0").path
    backend = LlamaCppBackend(str(path), threads=1, max_context=64)
    try:
        got = backend.logits(PROMPT)
        prefill_s, decode_s, decoded = backend.run(PROMPT, 8)
        with pytest.raises(ValueError, match="exceed the context of 64"):
            backend.run(PROMPT, 40)
    finally:
        backend.close()
    assert np.abs(got - reference).max() <= 0.05 * np.abs(reference).max()  # measured 0.019
    assert prefill_s > 0 and decode_s > 0 and decoded == 8
    assert backend.vocab_size == 320


@needs_llama_cpp
def test_llama_cpp_tokenizes_like_the_source_tokenizer(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    import llama_cpp
    from tokenizers import Tokenizer

    folder = tiny_models["qwen2"]
    path = write_gguf(folder, tmp_path / "m.gguf", "f32").path
    vocab_only = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    source = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in ["Mary moved to the bathroom.", "Café 東京 395<eos>", "  two\n\nlines"]:
        ids = vocab_only.tokenize(text.encode(), add_bos=False, special=True)
        assert ids == source.encode(text).ids, text


@needs_llama_cpp
def test_a_vocabulary_without_merges_still_loads(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    import llama_cpp

    folder = tmp_path / "model"
    shutil.copytree(tiny_models["qwen2"], folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["model"]["merges"] = []  # as in the random-weight benchmark shapes
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    path = write_gguf(folder, tmp_path / "m.gguf", "f32").path
    vocab_only = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    byte_ids = [spec["model"]["vocab"][c] for c in "abc"]
    assert vocab_only.tokenize(b"abc", add_bos=False) == byte_ids
