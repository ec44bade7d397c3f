"""Model bundles written by `edge-reason export`: open, verify, and map the weights.

A bundle folder holds model.onnx + model.onnx.data (the graph onnxruntime runs),
tokenizer.json, optionally model.tflite, the model's chat template if it has one
(chat_template.jinja, with its special token strings in special_tokens_map.json), and
bundle.json: the manifest with the
architecture, the sha256 of every file, and a tensor table that says where in
model.onnx.data each of the engine's weights lies. The native engine maps that
file once and reads its weights in place, as numpy views of the mapping: the
bytes onnxruntime reads are the bytes the engine computes with, on disk and in
the page cache. The one exception is the block scales: stored as float32 (for
onnxruntime), they are read once at load and kept by the engine as fp16, the
engine's scale format (csrc/kernels/formats.h), which streams fewer bytes per
token.

Loading checks the manifest's files listing (bundle_manifest.py) and every file's size and
sha256 first, so a changed or truncated
file is refused by name; with trusted_keys, the manifest must carry an Ed25519
signature by one of them (the `cryptography` package is imported only then).
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .bundle_manifest import (
    MANIFEST_NAME,
    BundleError,
    BundleFile,
    content_sha256,
    listed_files,
    read_manifest,
)
from .chat_template import ChatTemplate, find_chat_template
from .errors import ModelFormatError
from .hf_weights import QUANT_SCHEMES, EngineWeights
from .model_config import ModelConfig
from .regular_file import open_regular, read_all, read_regular
from .rope import rope_tables

FORMAT_NAME = "edge-reason-bundle"
FORMAT_VERSION = 1
ONNX_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
ALIGNMENT = 64  # byte alignment of every tensor in DATA_FILE
_DTYPES = {"float32": np.float32, "uint8": np.uint8}
# The architectures a bundle's tensors describe: one norm before attention and
# one before the MLP, one RoPE table (Gemma 3 has neither).
BUNDLE_ARCHITECTURES = (
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
)
_LAYER_VECTORS = ("attn_norm", "ffn_norm", "bq", "bk", "bv", "bo", "q_norm", "k_norm")
_LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")
_MAX_MANIFEST_BYTES = 64 << 20
# Listed files up to this size are held as the bytes that were hashed.
_HELD_BYTES = 64 << 20


class ChecksumError(BundleError):
    """A bundle file that is missing, or whose size or sha256 differs from the manifest."""


class SignatureError(BundleError):
    """A bundle that is unsigned, or not signed by any of the trusted keys."""


def is_bundle(folder: Path) -> bool:
    return (folder / MANIFEST_NAME).is_file()


def signing_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes an Ed25519 signature covers: the manifest without its signature,
    as canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_key_bytes(key: bytes | str | os.PathLike[str]) -> bytes:
    """A trusted key as 32 raw bytes: given raw, as PEM text (a str starting with
    "-----BEGIN", as a key read from a config or a secret store arrives), or as a path
    to a PEM public key file (as `edge-reason keygen` writes)."""
    if isinstance(key, bytes):
        if len(key) != 32:
            raise ValueError(f"a raw Ed25519 public key has 32 bytes, got {len(key)}")
        return key
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    is_text = isinstance(key, str) and key.lstrip().startswith("-----BEGIN")
    where = "the PEM text" if is_text else str(key)
    try:
        pem = key.encode() if is_text else Path(key).read_bytes()
        loaded = serialization.load_pem_public_key(pem)
    except (OSError, ValueError) as e:
        raise ValueError(f"{where}: not a readable PEM public key ({e})") from e
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"{where}: not an Ed25519 public key")
    return loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass
class Bundle:
    """An opened, verified bundle."""

    folder: Path
    manifest: dict[str, Any]
    config: ModelConfig
    files: VerifiedFiles

    @property
    def quant(self) -> str:
        return self.manifest["quantization"]["scheme"]

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        trusted_keys: list[bytes | str | os.PathLike[str]] | None = None,
    ) -> Bundle:
        folder = Path(folder)
        where = folder / MANIFEST_NAME
        if not where.exists():
            raise BundleError(f"{folder}: no {MANIFEST_NAME} (not a bundle)")
        try:
            text = read_regular(where, limit=_MAX_MANIFEST_BYTES)
        except ModelFormatError as e:
            raise BundleError(str(e)) from None
        manifest = read_manifest(text, str(where))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise BundleError(f"{where}: field 'format' must be {FORMAT_NAME!r}")
        if manifest.get("version") != FORMAT_VERSION:
            raise BundleError(
                f"{where}: field 'version' is {manifest.get('version')!r}; this edge_reason "
                f"reads version {FORMAT_VERSION}"
            )
        for key in ("architecture", "quantization", "tensors", "files"):
            if not isinstance(manifest.get(key), dict):
                raise BundleError(f"{where}: field {key!r} is missing or not an object")
        if trusted_keys is not None:
            _verify_signature(manifest, trusted_keys, where)
        files = VerifiedFiles(folder, listed_files(manifest, str(where)), where)
        scheme = manifest["quantization"].get("scheme")
        if scheme not in QUANT_SCHEMES:
            raise BundleError(f"{where}: field 'quantization.scheme' is {scheme!r}")
        config = ModelConfig.from_dict(manifest["architecture"], where=f"{where}: architecture")
        if config.architecture not in BUNDLE_ARCHITECTURES:
            raise BundleError(f"{where}: a bundle cannot hold {config.architecture}")
        return cls(folder, manifest, config, files)

    def chat_template(self) -> ChatTemplate | None:
        """The chat template the bundle lists (only checksummed bytes are read)."""
        return find_chat_template(self.folder, read=self.files.held_bytes)

    def engine_weights(self, max_context: int) -> EngineWeights:
        """The native engine's weight views, read in place from the mapped data file."""
        c = self.config
        table = self.manifest["tensors"]
        where = self.folder / MANIFEST_NAME
        mapped = _MappedFiles(self.files.weights, where)
        total = 0
        # (entry, its view) of what the engine may copy: block scales, and matrices
        scales: list[tuple[dict[str, Any], np.ndarray]] = []
        matrices: list[tuple[dict[str, Any], np.ndarray]] = []

        def view(entry: Any, role: str) -> np.ndarray:
            nonlocal total
            array = mapped.view(entry, f"{where}: tensors.{role}")
            total += array.nbytes
            return array

        def matrix(role: str) -> dict[str, Any]:
            entry = table.get(role)
            if not isinstance(entry, dict):
                raise BundleError(f"{where}: tensors.{role} is missing")
            fmt = entry.get("format", "f32")
            out = {"format": fmt, "rows": entry.get("rows"), "cols": entry.get("cols")}
            out["data"] = view(entry, role)
            if fmt != "f32":
                out["scales"] = view(entry.get("scales"), role + ".scales")
                scales.append((entry["scales"], out["scales"]))
                if role != "embedding":  # the embedding is read in place, a row per token
                    matrices.append((entry, out["data"]))
            return out

        def vector(role: str) -> np.ndarray:
            if role not in table:
                raise BundleError(f"{where}: tensors.{role} is missing")
            return view(table[role], role)

        layers = []
        for i in range(c.num_hidden_layers):
            p = f"layers.{i}."
            layer: dict[str, Any] = {n: matrix(p + n) for n in _LAYER_MATRICES}
            layer.update({n: vector(p + n) for n in _LAYER_VECTORS if p + n in table})
            layers.append(layer)
        unused = sorted(set(table) - set(_roles(c.num_hidden_layers)))
        if unused:
            raise BundleError(
                f"{where}: tensors the architecture ({c.num_hidden_layers} layers) does not use: "
                + ", ".join(unused[:5])
                + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
            )
        cos, sin = rope_tables(c, max_context)
        tensors = {
            "embedding": matrix("embedding"),
            "layers": layers,
            "final_norm": vector("final_norm"),
            "lm_head": matrix("lm_head"),
            "rope_cos": cos,
            "rope_sin": sin,
        }
        return EngineWeights(
            tensors=tensors,
            nbytes=total,
            release_copied=lambda copied_matrices: mapped.release(
                scales + (matrices if copied_matrices else [])
            ),
        )


def _roles(layers: int) -> set[str]:
    roles = {"embedding", "final_norm", "lm_head"}
    for i in range(layers):
        roles.update(f"layers.{i}.{n}" for n in _LAYER_MATRICES + _LAYER_VECTORS)
    return roles


class VerifiedFiles:
    """The files a manifest lists, each opened once, checked to be a regular file inside
    the bundle, and hashed: whatever the runtime reads of a bundle comes from here, never
    from a path that could since name another file. The weight file is hashed through
    the mapping the engine then reads; small files are held as the bytes that were
    hashed (tokenizer, chat template); larger ones (the ONNX and TFLite graphs, which
    other runtimes open by path) are only checked."""

    def __init__(self, folder: Path, files: tuple[BundleFile, ...], where: Path) -> None:
        self._held: dict[str, bytes] = {}
        self.weights: mmap.mmap | None = None  # DATA_FILE, mapped
        root = os.path.realpath(folder)
        for listed in files:
            name = listed.name
            path = folder / name
            if not os.path.lexists(path):
                raise ChecksumError(f"{path}: missing (listed in {where})")
            if os.path.realpath(path) != os.path.join(root, *PurePosixPath(name).parts):
                raise BundleError(f"{where}: files entry {name!r} is a link out of place")
            try:
                f = open_regular(path)
            except ModelFormatError as e:
                raise ChecksumError(f"{e} (listed in {where})") from None
            with f:
                size = os.fstat(f.fileno()).st_size
                if size != listed.bytes:
                    raise ChecksumError(
                        f"{path}: {size} bytes, but {where} says {listed.bytes}: "
                        "the file was changed or truncated"
                    )
                if name == DATA_FILE and size:
                    content: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    self.weights = content
                elif size <= _HELD_BYTES:
                    content = self._held[name] = read_all(f, size, path)
                else:
                    content = f
                digest = content_sha256(content)
            if digest != listed.sha256:
                raise ChecksumError(f"{path}: sha256 differs from {where}: the file was changed")
            if content is self.weights:
                # hashing paged the file in; the engine pages in what it reads
                self.weights.madvise(mmap.MADV_DONTNEED)
        names = {listed.name for listed in files}
        for required in (ONNX_FILE, DATA_FILE):
            if required not in names:
                raise BundleError(f"{where}: files lists no {required}")

    def held_bytes(self, name: str) -> bytes | None:
        """A small listed file's verified bytes; None if the manifest lists no such file."""
        return self._held.get(name)


class _MappedFiles:
    """Numpy views of a bundle's verified files; the views keep their mapping alive for
    as long as anything (the engine) holds them."""

    def __init__(self, weights: mmap.mmap | None, where: Path) -> None:
        self.weights = weights
        self.where = where

    def view(self, entry: Any, where: str) -> np.ndarray:
        if not isinstance(entry, dict):
            raise BundleError(f"{where}: expected an object with file, offset, shape, dtype")
        try:
            name, offset = entry["file"], entry["offset"]
            shape, dtype = tuple(entry["shape"]), _DTYPES[entry["dtype"]]
        except (KeyError, TypeError) as e:
            raise BundleError(f"{where}: field {e} is missing or invalid") from e
        if name != DATA_FILE or self.weights is None:
            raise BundleError(
                f"{where}: file {name!r}: weights lie in {DATA_FILE}, the checksummed file "
                f"{self.where} lists"
            )
        data = self.weights
        if not all(isinstance(n, int) and 0 <= n < 1 << 40 for n in shape):
            raise BundleError(f"{where}: shape {list(shape)} is not a list of sizes")
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count * np.dtype(dtype).itemsize
        if not isinstance(offset, int) or offset < 0 or offset + nbytes > len(data):
            raise BundleError(f"{where}: bytes [{offset}, +{nbytes}) lie outside {name}")
        if offset % ALIGNMENT:
            raise BundleError(f"{where}: offset {offset} is not {ALIGNMENT}-byte aligned")
        return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)

    def release(self, viewed: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        """Drop the pages that lie wholly inside these views (each with the entry ``view``
        made it from) from this process's memory. The mappings are read-only views of a
        file, so a page read again later is simply read back from it; nothing is lost."""
        page = mmap.PAGESIZE
        for entry, array in viewed:
            start = -(-entry["offset"] // page) * page
            end = (entry["offset"] + array.nbytes) // page * page
            if end > start:
                self.weights.madvise(mmap.MADV_DONTNEED, start, end - start)


def _verify_signature(
    manifest: dict[str, Any], trusted_keys: list[bytes | str | os.PathLike[str]], where: Path
) -> None:
    signature = manifest.get("signature")
    if not isinstance(signature, dict):
        raise SignatureError(f"{where}: the bundle is not signed, and trusted_keys were given")
    if signature.get("algorithm") != "ed25519":
        raise SignatureError(f"{where}: signature algorithm {signature.get('algorithm')!r}")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        value = bytes.fromhex(signature["value"])
    except (KeyError, TypeError, ValueError) as e:
        raise SignatureError(f"{where}: field 'signature.value' is not hex") from e
    message = signing_bytes(manifest)
    for key in trusted_keys:
        try:
            Ed25519PublicKey.from_public_bytes(public_key_bytes(key)).verify(value, message)
            return
        except InvalidSignature:
            continue
    raise SignatureError(f"{where}: not signed by any of the {len(trusted_keys)} trusted key(s)")
