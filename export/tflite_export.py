"""Write `model.tflite` into a bundle: the decoder as LiteRT prefill and decode signatures.

Contract with the bundle writer: ``add_tflite(bundle_dir, hf_dir, max_context=N)``
writes ``bundle_dir/model.tflite`` and returns its manifest entry; the writer
stores that dict as ``bundle.json["tflite"]`` (adding the file's checksum) and
``edge_reason.backends.tflite.TFLiteBackend.from_bundle`` reads it back.

The KV cache travels through the signatures as tensors (see
:mod:`.tflite_decoder`): ``prefill`` runs a chunk of ``prefill_tokens`` tokens,
``decode`` runs one, so generation costs one decode call per token. A prompt
shorter than a chunk is padded; the padding writes into cache slots past the
sequence, which no real token can see and later tokens overwrite, so the cache
has ``prefill_tokens - 1`` slots of slack beyond ``max_context``.

Weights are int8 per output channel with float activations quantized on the
fly ("dynamic range"), by ai-edge-quantizer; ``weights="float32"`` keeps them
as they are, which makes conversion errors visible apart from quantization.
"""

from __future__ import annotations

import contextlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from edge_reason.model_config import ModelConfig

from .tflite_decoder import CachedDecoder, cache_names

TFLITE_FILE = "model.tflite"
WEIGHT_FORMATS = ("int8", "float32")
DEFAULT_PREFILL_TOKENS = 32


def add_tflite(
    bundle_dir: Path,
    hf_dir: Path,
    *,
    max_context: int,
    prefill_tokens: int = DEFAULT_PREFILL_TOKENS,
    weights: str = "int8",
) -> dict[str, Any]:
    """Convert the Hugging Face model in hf_dir to bundle_dir/model.tflite.

    max_context: the most tokens a sequence may hold.
    prefill_tokens: tokens per prefill call (prompts run in chunks of this size).
    weights: "int8" (dynamic range) or "float32".
    Returns the manifest entry: file, weights, signatures and cache shapes.
    """
    bundle_dir, hf_dir = Path(bundle_dir), Path(hf_dir)
    if not bundle_dir.is_dir():
        raise FileNotFoundError(f"{bundle_dir}: the bundle folder does not exist")
    config = ModelConfig.from_folder(hf_dir)
    if not isinstance(max_context, int) or not 1 <= max_context <= config.max_position_embeddings:
        raise ValueError(
            f"max_context must be an integer in [1, {config.max_position_embeddings}] "
            f"(max_position_embeddings of {hf_dir / 'config.json'}), got {max_context!r}"
        )
    if not isinstance(prefill_tokens, int) or not 2 <= prefill_tokens <= max_context:
        raise ValueError(
            f"prefill_tokens must be an integer in [2, max_context={max_context}], "
            f"got {prefill_tokens!r}"
        )
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, got {weights!r}")

    import torch
    import transformers

    slots = max_context + prefill_tokens - 1
    cache_shape = [1, config.num_key_value_heads, slots, config.head_dim]
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    decoder = CachedDecoder(model.eval(), slots, config.sliding_window).eval()
    names = cache_names(config.num_hidden_layers)

    def example(tokens: int) -> dict[str, torch.Tensor]:
        caches = {name: torch.zeros(cache_shape) for name in names}
        return {
            "tokens": torch.zeros(1, tokens, dtype=torch.int32),
            "input_pos": torch.arange(tokens, dtype=torch.int32),
            **caches,
        }

    content = _convert(decoder, {"prefill": example(prefill_tokens), "decode": example(1)})
    if weights == "int8":
        content = _quantize_dynamic_int8(content)
    target = bundle_dir / TFLITE_FILE
    target.write_bytes(content)

    def signature(tokens: int) -> dict[str, Any]:
        return {
            "inputs": {"tokens": [1, tokens], "input_pos": [tokens]}
            | {name: cache_shape for name in names},
            "outputs": {"logits": [1, tokens, config.vocab_size]}
            | {name: cache_shape for name in names},
        }

    return {
        "file": TFLITE_FILE,
        "weights": "int8-dynamic-range" if weights == "int8" else "float32",
        "max_context": max_context,
        "vocab_size": config.vocab_size,
        "prefill_tokens": prefill_tokens,
        "signatures": {"prefill": signature(prefill_tokens), "decode": signature(1)},
        "cache": {
            "names": names,
            "shape": cache_shape,
            "layout": "[batch, kv_heads, slots, head_dim]",
            "dtype": "float32",
        },
        "tools": {
            name: metadata.version(name)
            for name in ("litert-torch", "ai-edge-quantizer", "torch", "transformers")
        },
    }


def _convert(module: Any, signatures: dict[str, dict[str, Any]]) -> bytes:
    """The float LiteRT flatbuffer of `module` with one signature per example input."""
    import litert_torch

    # litert-torch prints its progress on stdout, which belongs to the CLI's --json.
    with contextlib.redirect_stdout(sys.stderr):
        converter = None
        for name, kwargs in signatures.items():
            source = converter or litert_torch
            converter = source.signature(name, module, sample_kwargs=kwargs)
        return bytes(converter.convert().model_content())


def _quantize_dynamic_int8(float_model: bytes) -> bytes:
    from ai_edge_quantizer import quantizer, recipe

    with contextlib.redirect_stdout(sys.stderr):
        job = quantizer.Quantizer(bytearray(float_model))
        job.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        return bytes(job.quantize().quantized_model)
