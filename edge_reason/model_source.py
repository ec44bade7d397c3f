"""Where a model comes from: a Hugging Face folder, a bundle folder, or a GGUF file.

Each kind answers the same questions for Engine.load — the architecture, the weight
scheme, the native engine's weight views, the tokenizer, the chat template and any
extra end-of-generation tokens — so the loader itself has no per-format branches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import Bundle, is_bundle
from .chat_template import ChatTemplate, find_chat_template
from .encoder_config import EncoderConfig, is_encoder_config
from .errors import ModelFormatError
from .gguf_config import gguf_model_config
from .gguf_file import GgufFile
from .gguf_tokenizer import GgufTokenizer, build_gguf_tokenizer
from .gguf_weights import GGUF_QUANTS, load_gguf_weights
from .hf_weights import QUANT_SCHEMES, EngineWeights, load_bert_weights, load_hf_weights
from .model_config import ModelConfig, read_config_json
from .regular_file import read_regular


@dataclass
class ModelSource:
    """A model ready to load. `quant` is the weight scheme ("f32", "int8", "int4", or
    "mixed" for a GGUF file whose matrices kept different formats): a GGUF file's is
    known once `native_weights` has run. `config` is an EncoderConfig for a Hugging Face
    folder of a BERT-style encoder (whose weights ignore max_context)."""

    path: Path
    config: ModelConfig | EncoderConfig
    quant: str
    # a tokenizers.Tokenizer, a tokenizer.json path or its bytes to load on first use, or None
    tokenizer: Any
    chat_template: ChatTemplate | None
    load_weights: Callable[[int], EngineWeights] = field(repr=False)
    bundle: Bundle | None = None
    end_of_generation_ids: frozenset[int] = frozenset()

    def native_weights(self, max_context: int) -> EngineWeights:
        weights = self.load_weights(max_context)
        if weights.conversions is not None:  # a GGUF file: formats chosen per tensor type
            self.quant = _scheme_of(weights.tensors)
        return weights


def open_model_source(
    path: str | os.PathLike[str],
    quant: str | None,
    *,
    native: bool,
    trusted_keys: Sequence[bytes | str | os.PathLike[str]] | None,
) -> ModelSource:
    """The model at `path`, checked. native: whether the native engine will run it (other
    backends and trusted_keys need a bundle)."""
    where = Path(path)
    if not where.is_file() and not where.is_dir():
        raise ModelFormatError(
            f"{where}: not a folder or a file (expected a Hugging Face model folder, "
            "a bundle folder or a GGUF file)"
        )
    if where.is_dir() and is_bundle(where):
        return _bundle_source(where, quant, trusted_keys)
    if not native or trusted_keys is not None:
        raise ValueError(
            f"{where}: other backends and trusted_keys need a bundle (a folder with "
            "bundle.json, from `edge-reason export`, which also takes a GGUF file)"
        )
    if where.is_file():
        return _gguf_source(GgufFile.open(where), quant)
    return _hf_source(where, quant)


def model_config(path: Path) -> ModelConfig:
    """The configuration of a bundle folder or a GGUF file, without loading its weights."""
    if path.is_dir():
        return Bundle.open(path).config
    return gguf_model_config(GgufFile.open(path))


def _bundle_source(
    folder: Path, quant: str | None, trusted_keys: Sequence[Any] | None
) -> ModelSource:
    bundle = Bundle.open(folder, None if trusted_keys is None else list(trusted_keys))
    if quant not in (None, bundle.quant):
        raise ValueError(f"{folder} is an {bundle.quant} bundle; it cannot load as {quant}")
    return ModelSource(
        path=folder,
        config=bundle.config,
        quant=bundle.quant,
        tokenizer=bundle.files.held_bytes("tokenizer.json"),
        chat_template=bundle.chat_template(),
        load_weights=bundle.engine_weights,
        bundle=bundle,
    )


def _hf_source(folder: Path, quant: str | None) -> ModelSource:
    quant = quant or "f32"
    if quant not in QUANT_SCHEMES:
        raise ValueError(f"quant must be one of {sorted(QUANT_SCHEMES)}, got {quant!r}")
    raw = read_config_json(folder)
    if is_encoder_config(raw):
        encoder = EncoderConfig.from_folder(folder, raw)
        return ModelSource(
            path=folder,
            config=encoder,
            quant=quant,
            tokenizer=_tokenizer_file(folder),
            chat_template=None,
            load_weights=lambda _context: load_bert_weights(folder, encoder, quant),
        )
    config = ModelConfig.from_dict(raw, where=str(folder / "config.json"))
    return ModelSource(
        path=folder,
        config=config,
        quant=quant,
        tokenizer=_tokenizer_file(folder),
        chat_template=find_chat_template(folder),
        load_weights=lambda context: load_hf_weights(folder, config, quant, context),
    )


def _gguf_source(gguf: GgufFile, quant: str | None) -> ModelSource:
    if quant not in GGUF_QUANTS:
        raise ValueError(f"quant must be one of {GGUF_QUANTS[1:]} or None, got {quant!r}")
    config = gguf_model_config(gguf)
    vocabulary = build_gguf_tokenizer(gguf.metadata, str(gguf.path))
    return ModelSource(
        path=gguf.path,
        config=config,
        quant=quant or "int8",
        tokenizer=vocabulary.tokenizer,
        chat_template=_gguf_chat_template(gguf, vocabulary),
        load_weights=lambda context: load_gguf_weights(gguf, config, quant, context),
        end_of_generation_ids=vocabulary.end_of_generation_ids,
    )


def _tokenizer_file(folder: Path) -> Path | None:
    path = folder / "tokenizer.json"
    return path if path.exists() else None  # a FIFO or a folder is refused when it loads


def _gguf_chat_template(gguf: GgufFile, vocabulary: GgufTokenizer) -> ChatTemplate | None:
    key = "tokenizer.chat_template"
    if key not in gguf.metadata:
        return None
    return ChatTemplate(
        gguf.value(key, str),
        bos_token=vocabulary.bos_token,
        eos_token=vocabulary.eos_token,
        origin=f"{gguf.path} ({key})",
    )


def _scheme_of(tensors: dict[str, Any]) -> str:
    """ "int8", "int4" or "f32" when every matrix is in that scheme's format, else "mixed"."""
    formats = {m["format"] for layer in tensors["layers"] for k, m in layer.items() if k[0] == "w"}
    formats.add(tensors["lm_head"]["format"])
    by_format = {frozenset({"q8"}): "int8", frozenset({"q4"}): "int4", frozenset({"f32"}): "f32"}
    return by_format.get(frozenset(formats), "mixed")


_MAX_TOKENIZER_BYTES = 256 << 20


def load_tokenizer(source: Path | bytes, model: Path) -> Any:
    """A tokenizers.Tokenizer from a tokenizer.json file, or from its bytes (a bundle's, as
    verified at load)."""
    from tokenizers import Tokenizer

    if isinstance(source, Path):
        where, data = source, read_regular(source, limit=_MAX_TOKENIZER_BYTES)
    else:
        where, data = model / "tokenizer.json", source
    try:
        return Tokenizer.from_buffer(data)
    except Exception as e:  # the tokenizers library raises plain Exception subclasses
        raise ModelFormatError(f"{where}: cannot load the tokenizer ({e})") from e
