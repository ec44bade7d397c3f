"""GGUF files, llama.cpp's model format: open one, check it, read its metadata and tensors.

The `gguf` package parses the header into numpy views of one read-only memory map.
What it leaves unchecked is checked here before any value is used: the file is a
regular file that starts with the GGUF magic, every tensor's bytes lie inside it,
and every tensor type is one the engine reads. The package's own failures (a
truncated header, an unknown type code) become a ModelFormatError naming the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError

MAGIC = b"GGUF"

# GGML tensor types the engine reads (by the gguf package's names).
READABLE_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
READABLE_TYPES += ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


def is_gguf(path: Path) -> bool:
    """True for a regular file that starts with the GGUF magic."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class GgufTensor:
    """One tensor as stored: `data` views the file (quantized types as raw bytes,
    one row of blocks per row); `shape` is numpy order, rows first ([rows, cols])."""

    name: str
    type_name: str  # GGML type, e.g. "Q4_K"
    shape: tuple[int, ...]
    data: np.ndarray = field(repr=False)

    @property
    def rows(self) -> int:
        return self.shape[0] if len(self.shape) == 2 else 1

    @property
    def cols(self) -> int:
        return self.shape[-1]


class GgufMetadata(Mapping[str, Any]):
    """The key-value metadata, each value converted to plain Python on first read
    (a 150k-entry vocabulary costs a noticeable fraction of a second to convert).
    A value that cannot be converted (a string that is not UTF-8) is a ModelFormatError
    naming the file and key, wherever it is read."""

    def __init__(self, fields: Mapping[str, Any], path: Path) -> None:
        self._fields = fields
        self._path = path
        self._values: dict[str, Any] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._fields  # without converting the value, as Mapping's would

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            field = self._fields[key]
            try:
                self._values[key] = field.contents()
            except Exception as e:  # the package raises UnicodeDecodeError, IndexError...
                raise ModelFormatError(
                    f"{self._path}: metadata {key!r} is unreadable ({_reason(e)})"
                ) from None
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


class GgufFile:
    """An open GGUF file. Build one with :meth:`GgufFile.open`."""

    def __init__(self, path: Path, metadata: GgufMetadata, tensors: dict[str, GgufTensor]):
        self.path = path
        self.metadata = metadata
        self.tensors = tensors

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> GgufFile:
        path = Path(path)
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            raise ModelFormatError(f"{path}: cannot open ({e.strerror})") from None
        if not stat.S_ISREG(mode):
            raise ModelFormatError(f"{path}: not a regular file")
        if not is_gguf(path):
            raise ModelFormatError(f"{path}: not a GGUF file (it does not start with 'GGUF')")
        size = path.stat().st_size
        try:
            reader = _bounded_reader()(path, "r")
        except Exception as e:  # the package raises ValueError, KeyError, struct errors...
            reason = _reason(e)
            raise ModelFormatError(f"{path}: truncated or corrupt GGUF file ({reason})") from None
        tensors: dict[str, GgufTensor] = {}
        for t in reader.tensors:
            type_name = t.tensor_type.name
            if type_name not in READABLE_TYPES:
                raise ModelFormatError(
                    f"{path}: tensor {t.name!r} has type {type_name}, which the engine does "
                    f"not read (it reads {', '.join(READABLE_TYPES)})"
                )
            end = int(t.data_offset) + int(t.n_bytes)
            if end > size or t.data.nbytes != int(t.n_bytes):
                raise ModelFormatError(
                    f"{path}: tensor {t.name!r} ends at byte {end} but the file has {size} "
                    "bytes (truncated?)"
                )
            shape = tuple(int(d) for d in reversed(t.shape.tolist()))
            tensors[t.name] = GgufTensor(t.name, type_name, shape, t.data)
        return cls(path, GgufMetadata(reader.fields, path), tensors)

    def value(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """Metadata `key`, which must be of `kind` (int accepted where float is asked)."""
        if key not in self.metadata:
            if default is ...:
                raise ModelFormatError(f"{self.path}: metadata {key!r} is missing")
            return default
        v = self.metadata[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ModelFormatError(f"{self.path}: metadata {key!r} must be {names}, got {v!r}")
        return v

    def tensor(self, name: str, shape: tuple[int, ...]) -> GgufTensor:
        """The tensor `name`, which must have `shape` (numpy order)."""
        t = self.tensors.get(name)
        if t is None:
            raise ModelFormatError(f"{self.path}: tensor {name!r} is missing")
        if t.shape != shape:
            raise ModelFormatError(
                f"{self.path}: tensor {name!r} has shape {list(t.shape)}, but the metadata "
                f"implies {list(shape)}"
            )
        return t


def _bounded_reader() -> type:
    """GGUFReader, refusing to read past the end of the file. The package reads by slicing
    its map, which past the end yields a short or empty array: an array value whose length
    runs past the end then loops over that length without advancing (a hang, for a length
    of 2**63), where it should fail."""
    from gguf import GGUFReader

    class BoundedReader(GGUFReader):
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None):
            values = super()._get(offset, dtype, count, override_order)
            if len(values) != int(count):
                raise ValueError(f"a value at byte {offset} runs past the end of the file")
            return values

    return BoundedReader


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) < 200 else text[:200] + "..."
