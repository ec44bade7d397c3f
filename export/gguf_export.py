"""A Hugging Face Llama, Qwen2, Qwen3 or Gemma 3 folder as one GGUF file (llama.cpp as a baseline).

Written from the GGUF format as the `gguf` package exposes it (GGUFWriter, its
tensor-name table and its numpy block quantizers), not from llama.cpp's own
converter. What llama.cpp needs beyond the plain tensors:

- names `token_embd`, `blk.N.attn_q`, ... and the architecture's metadata keys;
- for the "llama" architecture, q and k rows reordered per head: llama.cpp
  rotates adjacent pairs (x[2i], x[2i+1]) where Hugging Face rotates
  (x[i], x[i + head_dim/2]); Qwen2 and Qwen3 run the rotate-half form in llama.cpp too;
- a tied output head is simply absent: llama.cpp then reads token_embd;
- Llama-3 frequency scaling as a `rope_freqs` tensor of per-pair divisors;
- a "gpt2" (byte-level BPE) vocabulary: tokens, token types, merges, eos;
- for Gemma 3, as llama.cpp's converter writes it: the norm weights stored as 1 + w
  (Gemma's RMSNorm scales by 1 + w), `post_attention_norm`, `ffn_norm` (the
  pre-feed-forward norm) and `post_ffw_norm`, the window in `attention.sliding_window`,
  the sliding layers' RoPE base in `rope.freq_base_swa`, the full layers' linear
  scaling in `rope.scaling.*`. llama.cpp takes every 6th layer as full unless
  `attention.sliding_window_pattern` says otherwise; llama.cpp's converter never writes
  that key (Gemma 3 is every 6th), this one writes it, one bool per layer, for any other
  pattern. llama.cpp derives the attention scale instead of reading it, so a
  query_pre_attn_scalar other than the one it derives is refused; it multiplies the
  embeddings by sqrt(hidden) unrounded, whatever the model's dtype. Unlike llama.cpp's
  converter this one keeps the embedding rows past the tokenizer's last token (as
  padding tokens, like every architecture here).

Matrices are stored in the file's type, except the output head (token_embd when
it is tied) of a Q4_0 file, which gets the type llama.cpp's own quantize tool
gives it: Q6_K, or Q8_0 when its rows do not split into Q6_K's 256-value
blocks. The gguf package has no Q6_K quantizer, so Q8_0 stands in for it too
(more bytes, never fewer). `pure=True` keeps the head in the file's type, like
llama-quantize's --pure. A matrix whose rows do not split into 32-value blocks
falls back to F16 and is listed in the summary. Norm weights and biases stay F32.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFormatError
from ..gguf_config import gemma3_query_pre_attn_scalar
from ..model_config import ModelConfig
from ..rope import inverse_frequencies
from ..rope_scaling import LinearScaling, Llama3Scaling
from ..safetensors_io import SafetensorsFolder

# Hugging Face architecture -> llama.cpp architecture
ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Gemma3ForCausalLM": "gemma3",
}
# llama.cpp's default sliding-window pattern for gemma3: every 6th layer full
GEMMA3_DEFAULT_PATTERN = 6
QUANTS = ("f32", "f16", "q8_0", "q4_0")

# A GGUF "gpt2" vocabulary must carry a merges array and the gguf writer refuses
# an empty one. Without merges every BPE symbol stays one character, so a merge
# of two multi-character strings can never fire: it stands in for "no merges".
INERT_MERGE = "<no-merge> <no-merge>"


@dataclass(frozen=True)
class GgufSummary:
    """What write_gguf wrote: each tensor's GGML type, and the matrices kept at F16."""

    path: Path
    tensor_types: dict[str, str]
    f16_fallbacks: tuple[str, ...]


@dataclass(frozen=True)
class GgufVocabulary:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre_tokenizer: str  # llama.cpp's name for the pre-tokenization rule


def write_gguf(
    hf_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    quant: str = "q4_0",
    *,
    pure: bool = False,
) -> GgufSummary:
    """Convert the model folder `hf_dir` to the GGUF file `out_path` with matrices in `quant`.

    quant: "f32", "f16", "q8_0" or "q4_0". pure: the output head in `quant` too (otherwise
    a Q4_0 file keeps it at Q8_0, as llama.cpp's quantize tool does). The file appears only
    when complete.
    """
    import gguf

    if quant not in QUANTS:
        raise ValueError(f"quant must be one of {QUANTS}, got {quant!r}")
    folder = Path(hf_dir)
    config = ModelConfig.from_folder(folder)
    arch = _llama_cpp_architecture(config, folder)
    vocab = read_vocabulary(folder / "tokenizer.json", config.vocab_size)
    matrix_type = {
        "f32": gguf.GGMLQuantizationType.F32,
        "f16": gguf.GGMLQuantizationType.F16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
        "q4_0": gguf.GGMLQuantizationType.Q4_0,
    }[quant]
    file_type = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    }[quant]

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(partial, arch)
    _add_hyperparameters(writer, config, folder.name, file_type)
    _add_vocabulary(writer, vocab, config)

    head = "token_embd.weight" if config.tie_word_embeddings else "output.weight"
    head_type = matrix_type
    if quant == "q4_0" and not pure:
        head_type = gguf.GGMLQuantizationType.Q8_0
    types: dict[str, str] = {}
    fallbacks: list[str] = []

    def add(name: str, values: np.ndarray) -> None:
        qtype = gguf.GGMLQuantizationType.F32
        if values.ndim == 2:
            qtype = head_type if name == head else matrix_type
            block = gguf.GGML_QUANT_SIZES[qtype][0]
            if values.shape[1] % block:
                qtype = gguf.GGMLQuantizationType.F16
                fallbacks.append(name)
        data = gguf.quantize(values, qtype)
        writer.add_tensor(name, data, raw_dtype=qtype if data.dtype == np.uint8 else None)
        types[name] = qtype.name

    try:
        for name, values in _gguf_tensors(config, SafetensorsFolder(folder), arch):
            add(name, values)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    partial.replace(out)
    return GgufSummary(out, types, tuple(fallbacks))


def _llama_cpp_architecture(config: ModelConfig, folder: Path) -> str:
    c = config
    arch = ARCHITECTURES.get(c.architecture)
    gemma3 = arch == "gemma3"
    # the one kind of rope_scaling each architecture's GGUF form carries
    carried = {"llama": Llama3Scaling, "gemma3": LinearScaling}.get(arch, ())
    other_scaling = c.rope_scaling is not None and not isinstance(c.rope_scaling, carried)
    llama_cpp_scalar = gemma3_query_pre_attn_scalar(
        c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.head_dim
    )
    unsupported = [
        what
        for what, present in (
            (f"architecture {c.architecture}", arch is None),
            ("a sliding attention window", c.sliding_window > 0 and not gemma3),
            ("rope_scaling on Qwen", arch in ("qwen2", "qwen3") and c.rope_scaling is not None),
            ("rope_scaling other than llama3", arch == "llama" and other_scaling),
            ("rope_scaling other than linear on Gemma 3", gemma3 and other_scaling),
            (
                f"query_pre_attn_scalar other than {llama_cpp_scalar}, the one llama.cpp "
                "derives for Gemma 3",
                gemma3 and c.attention_scale != llama_cpp_scalar**-0.5,
            ),
            ("attention biases on Gemma 3", gemma3 and c.qkv_bias),
        )
        if present
    ]
    if unsupported:
        raise ModelFormatError(
            f"{folder}: the GGUF converter does not handle {', '.join(unsupported)} "
            f"(it converts {', '.join(sorted(ARCHITECTURES))})"
        )
    return arch


def _add_hyperparameters(writer: Any, config: ModelConfig, name: str, file_type: int) -> None:
    import gguf

    c = config
    writer.add_name(name)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_key_length(c.head_dim)
    writer.add_value_length(c.head_dim)
    writer.add_rope_dimension_count(c.head_dim)
    writer.add_rope_freq_base(c.rope_theta)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_vocab_size(c.vocab_size)
    if c.architecture == "Gemma3ForCausalLM":
        _add_gemma3_hyperparameters(writer, c)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_gemma3_hyperparameters(writer: Any, config: ModelConfig) -> None:
    import gguf

    c = config
    sliding = list(c.sliding_layers)
    if any(sliding):  # no window key: llama.cpp runs every layer full
        writer.add_sliding_window(c.sliding_window)
        n = GEMMA3_DEFAULT_PATTERN
        if sliding != [i % n < n - 1 for i in range(c.num_hidden_layers)]:
            writer.add_sliding_window_pattern(sliding)
    writer.add_rope_freq_base_swa(c.rope_local_theta)
    if isinstance(c.rope_scaling, LinearScaling):
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(c.rope_scaling.factor)


def _add_vocabulary(writer: Any, vocab: GgufVocabulary, config: ModelConfig) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre_tokenizer)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges or [INERT_MERGE])
    if config.eos_token_ids:
        writer.add_eos_token_id(config.eos_token_ids[0])
    if config.bos_token_id is not None:
        writer.add_bos_token_id(config.bos_token_id)
    # The models we convert add no BOS to a prompt (neither SmolLM2 nor Qwen2.5 does).
    writer.add_add_bos_token(False)


def read_vocabulary(path: Path, vocab_size: int) -> GgufVocabulary:
    """The byte-level BPE vocabulary of a tokenizer.json, padded to the model's `vocab_size`."""
    import gguf

    if not path.is_file():
        raise ModelFormatError(f"{path}: missing (the GGUF file needs the model's vocabulary)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"{path}: not valid JSON ({e})") from e
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise ModelFormatError(f"{path}: model.type must be 'BPE' with a vocab object")
    by_id: dict[int, tuple[str, int]] = {
        i: (token, gguf.TokenType.NORMAL) for token, i in model["vocab"].items()
    }
    for added in spec.get("added_tokens") or []:
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[added["id"]] = (added["content"], kind)
    too_large = sorted(i for i in by_id if not 0 <= i < vocab_size)
    if too_large:
        raise ModelFormatError(
            f"{path}: token id {too_large[0]} is outside the model's vocab_size {vocab_size}"
        )
    tokens, types = [], []
    for i in range(vocab_size):
        # ids the tokenizer never produces (embedding rows kept for alignment)
        token, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(token)
        types.append(int(kind))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    return GgufVocabulary(tokens, types, merges, _pre_tokenizer(spec.get("pre_tokenizer"), path))


def _pre_tokenizer(spec: Any, path: Path) -> str:
    """llama.cpp's name for a tokenizer.json pre-tokenizer (the ones our models use)."""

    def byte_level(step: Any, use_regex: bool) -> bool:
        return (
            isinstance(step, dict)
            and step.get("type") == "ByteLevel"
            and not step.get("add_prefix_space", False)
            and step.get("use_regex", True) == use_regex
        )

    if byte_level(spec, use_regex=True):
        return "gpt-2"  # GPT-2's split regex, then bytes to symbols
    steps = spec.get("pretokenizers") if isinstance(spec, dict) else None
    if (
        isinstance(steps, list)
        and len(steps) == 2
        and steps[0].get("type") == "Digits"
        and steps[0].get("individual_digits")
        and byte_level(steps[1], use_regex=True)
    ):
        return "smollm"  # digits one by one, then GPT-2's rule
    raise ModelFormatError(
        f"{path}: pre_tokenizer {json.dumps(spec)[:200]} has no llama.cpp equivalent known to "
        "this converter (known: ByteLevel with GPT-2's regex; Digits + ByteLevel as in SmolLM2)"
    )


def _gguf_tensors(config: ModelConfig, st: SafetensorsFolder, arch: str) -> Any:
    """(GGUF name, float32 values) for every tensor, in file order."""
    import gguf

    names = gguf.TENSOR_NAMES
    T = gguf.MODEL_TENSOR
    c = config
    D, F, V, hd = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
    q_dim, kv_dim = c.num_attention_heads * hd, c.num_key_value_heads * hd

    def norm(name: str, n: int) -> np.ndarray:
        # Gemma's RMSNorm scales by (1 + w); llama.cpp multiplies by the stored value.
        return st.float32(name, (n,)) + np.float32(c.norm_weight_offset)

    def pairs_adjacent(values: np.ndarray, heads: int) -> np.ndarray:
        if arch != "llama":
            return values
        per_head = values.reshape(heads, 2, hd // 2, *values.shape[1:])
        return np.ascontiguousarray(per_head.swapaxes(1, 2)).reshape(values.shape)

    yield names[T.TOKEN_EMBD] + ".weight", st.float32("model.embed_tokens.weight", (V, D))
    if not c.tie_word_embeddings:
        yield names[T.OUTPUT] + ".weight", st.float32("lm_head.weight", (V, D))
    yield names[T.OUTPUT_NORM] + ".weight", norm("model.norm.weight", D)
    if isinstance(c.rope_scaling, Llama3Scaling):  # Gemma 3's linear scaling is metadata
        unscaled = inverse_frequencies(dataclasses.replace(c, rope_scaling=None))
        yield names[T.ROPE_FREQS] + ".weight", unscaled / inverse_frequencies(c)
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."

        def gguf_name(t: Any, suffix: str = "weight", i: int = i) -> str:
            return names[t].format(bid=i) + "." + suffix

        yield gguf_name(T.ATTN_NORM), norm(p + "input_layernorm.weight", D)
        for t, hf, rows, heads in (
            (T.ATTN_Q, "q_proj", q_dim, c.num_attention_heads),
            (T.ATTN_K, "k_proj", kv_dim, c.num_key_value_heads),
            (T.ATTN_V, "v_proj", kv_dim, 0),
        ):
            w = st.float32(p + f"self_attn.{hf}.weight", (rows, D))
            yield gguf_name(t), pairs_adjacent(w, heads) if heads else w
            if c.qkv_bias:
                b = st.float32(p + f"self_attn.{hf}.bias", (rows,))
                yield gguf_name(t, "bias"), pairs_adjacent(b, heads) if heads else b
        if c.qk_norm:
            yield gguf_name(T.ATTN_Q_NORM), norm(p + "self_attn.q_norm.weight", hd)
            yield gguf_name(T.ATTN_K_NORM), norm(p + "self_attn.k_norm.weight", hd)
        yield gguf_name(T.ATTN_OUT), st.float32(p + "self_attn.o_proj.weight", (D, q_dim))
        if c.o_bias:
            yield gguf_name(T.ATTN_OUT, "bias"), st.float32(p + "self_attn.o_proj.bias", (D,))
        if c.post_norms:
            yield gguf_name(T.ATTN_POST_NORM), norm(p + "post_attention_layernorm.weight", D)
            yield gguf_name(T.FFN_PRE_NORM), norm(p + "pre_feedforward_layernorm.weight", D)
        else:
            yield gguf_name(T.FFN_NORM), norm(p + "post_attention_layernorm.weight", D)
        yield gguf_name(T.FFN_GATE), st.float32(p + "mlp.gate_proj.weight", (F, D))
        yield gguf_name(T.FFN_UP), st.float32(p + "mlp.up_proj.weight", (F, D))
        yield gguf_name(T.FFN_DOWN), st.float32(p + "mlp.down_proj.weight", (D, F))
        if c.post_norms:
            yield gguf_name(T.FFN_POST_NORM), norm(p + "post_feedforward_layernorm.weight", D)
