"""Read and write safetensors files; reading goes through mmap and checks every header field.

The ``safetensors`` package trusts the file; a device that loads whatever
was copied onto its SD card should not. Tensors come back as numpy views of
the mapped file (no copy) when their dtype is one numpy has, and every way a
file can be wrong (truncated, corrupt header, offsets out of range) is a
:class:`~edge_reason.errors.ModelFormatError` naming the file and tensor.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelFormatError
from .regular_file import open_regular

# bfloat16 has no numpy dtype: it is read as uint16 and widened by to_float32.
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in its file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # absolute byte offsets in the file
    end: int


class SafetensorsFile:
    """One mapped safetensors file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Held open: rows are read from this file, not from whatever the path names later.
        self._file = open_regular(self.path)
        size = os.fstat(self._file.fileno()).st_size
        if size < 8:
            raise ModelFormatError(f"{self.path}: {size} bytes is too short for safetensors")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.entries = self._parse_header(size)

    def _parse_header(self, size: int) -> dict[str, TensorEntry]:
        (header_len,) = struct.unpack("<Q", self._map[:8])
        if header_len > min(size - 8, _MAX_HEADER_BYTES):
            raise ModelFormatError(
                f"{self.path}: header claims {header_len} bytes but the file has {size} "
                "(truncated or not a safetensors file)"
            )
        try:
            header = json.loads(bytes(self._map[8 : 8 + header_len]))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelFormatError(f"{self.path}: header is not valid JSON ({e})") from e
        if not isinstance(header, dict):
            raise ModelFormatError(f"{self.path}: header is not a JSON object")
        data_start = 8 + header_len
        entries = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            entries[name] = self._check_entry(name, info, data_start, size)
        return entries

    def _check_entry(self, name: str, info: object, data_start: int, size: int) -> TensorEntry:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise ModelFormatError(f"{where}: entry needs dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            raise ModelFormatError(f"{where}: unsupported dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ModelFormatError(f"{where}: bad shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise ModelFormatError(f"{where}: bad data_offsets {offsets!r}")
        count = int(np.prod(shape, dtype=np.int64))
        if offsets[1] - offsets[0] != count * _DTYPES[dtype].itemsize:
            raise ModelFormatError(
                f"{where}: {offsets[1] - offsets[0]} bytes do not hold shape {shape} of {dtype}"
            )
        begin, end = data_start + offsets[0], data_start + offsets[1]
        if end > size:
            raise ModelFormatError(
                f"{where}: needs bytes up to {end} but the file has {size} (truncated?)"
            )
        return TensorEntry(name, dtype, tuple(shape), begin, end)

    def read_rows(self, name: str, row0: int, rows: int) -> np.ndarray:
        """Rows [row0, row0 + rows) of a 2-D tensor, read from the file (not the map).

        Reading instead of touching the map keeps the source bytes out of the
        process's resident memory while they are converted.
        """
        e = self.entries[name]
        dtype = _DTYPES[e.dtype]
        row_bytes = e.shape[1] * dtype.itemsize
        raw = os.pread(self._file.fileno(), rows * row_bytes, e.begin + row0 * row_bytes)
        if len(raw) != rows * row_bytes:
            raise ModelFormatError(f"{self.path}: tensor {name!r} ends early (file changed?)")
        return np.frombuffer(raw, dtype=dtype).reshape(rows, e.shape[1])

    def array(self, name: str) -> np.ndarray:
        """The tensor as stored (bf16 as uint16), a read-only view of the map."""
        e = self.entries[name]
        dtype = _DTYPES[e.dtype]
        count = (e.end - e.begin) // dtype.itemsize
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=e.begin).reshape(e.shape)


def to_float32(array: np.ndarray, dtype: str) -> np.ndarray:
    """A float32 C-contiguous version of a stored tensor (no copy if it already is one)."""
    if dtype == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if dtype in ("F32", "F16", "F64"):
        out = array.astype(np.float32, copy=False)
        if out.ctypes.data % 4:  # unaligned in the file: the engine wants aligned floats
            out = out.copy()
        return np.ascontiguousarray(out)
    raise ModelFormatError(f"expected a floating-point tensor, got {dtype}")


class SafetensorsFolder:
    """Every ``*.safetensors`` file of a model folder, as one name -> tensor map."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        files = sorted(self.folder.glob("*.safetensors"))
        if not files:
            raise ModelFormatError(f"{self.folder}: no *.safetensors weight files")
        self._where: dict[str, SafetensorsFile] = {}
        for path in files:
            f = SafetensorsFile(path)
            for name in f.entries:
                if name in self._where:
                    raise ModelFormatError(
                        f"{self.folder}: tensor {name!r} is in both {self._where[name].path.name} "
                        f"and {path.name}"
                    )
                self._where[name] = f

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def _checked(self, name: str, shape: tuple[int, ...]) -> SafetensorsFile:
        f = self._where.get(name)
        if f is None:
            raise ModelFormatError(f"{self.folder}: tensor {name!r} is missing from the weights")
        entry = f.entries[name]
        if entry.shape != tuple(shape):
            raise ModelFormatError(
                f"{f.path}: tensor {name!r} has shape {list(entry.shape)}, "
                f"config.json implies {list(shape)}"
            )
        return f

    def float32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor `name` as float32, checked to have `shape`.

        A float32 tensor is a view of the mapped file (its pages are the
        weights); any other dtype is converted through file reads in chunks,
        so the source bytes never become resident next to the result.
        """
        f = self._checked(name, shape)
        dtype = f.entries[name].dtype
        if dtype == "F32" or len(shape) != 2:
            return to_float32(f.array(name), dtype)
        out = np.empty(shape, dtype=np.float32)
        for row0, chunk in self.float32_row_chunks(name, (shape[0], shape[1])):
            out[row0 : row0 + len(chunk)] = chunk
        return out

    def float32_row_chunks(
        self, name: str, shape: tuple[int, int], chunk_bytes: int = 2 << 20
    ) -> Iterator[tuple[int, np.ndarray]]:
        """A 2-D tensor as (first row, float32 rows) chunks of about chunk_bytes each."""
        f = self._checked(name, shape)
        dtype = f.entries[name].dtype
        rows, cols = shape
        step = max(1, chunk_bytes // (4 * max(1, cols)))
        for row0 in range(0, rows, step):
            n = min(step, rows - row0)
            yield row0, to_float32(f.read_rows(name, row0, n), dtype)


def write_safetensors(path: str | Path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    """Write `name -> (safetensors dtype, array)`; bfloat16 arrays are given as uint16."""
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, array) in tensors.items():
        if _DTYPES[dtype].itemsize != array.dtype.itemsize:
            raise ValueError(f"{name}: array dtype {array.dtype} does not store {dtype}")
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((-len(blob)) % 8)  # keeps the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for _, array in tensors.values():
            f.write(np.ascontiguousarray(array).tobytes())
