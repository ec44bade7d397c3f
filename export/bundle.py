"""Write a bundle folder (the reader and the format are in edge_reason/bundle.py and
edge_reason/bundle_manifest.py).

Everything is written into a temporary folder beside OUT_DIR and moved into
place at the end, bundle.json last: an interrupted export leaves at most a
temporary folder (removed on the way out) and never a folder that loads.

An OUT_DIR that is not empty is refused unless force=True, and even then only
files that an earlier export wrote (those its bundle.json lists) are replaced;
any other file in OUT_DIR that the new bundle would overwrite stops the export.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ..bundle import ALIGNMENT, DATA_FILE, FORMAT_NAME, FORMAT_VERSION, ONNX_FILE
from ..bundle_manifest import MANIFEST_NAME, file_sha256
from ..errors import EdgeReasonError

# Initializers of these types go to DATA_FILE, where the engine can map them;
# small integer constants (shapes, slice bounds) stay inside model.onnx.
_EXTERNAL_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8"}


class OutputFolderError(EdgeReasonError, ValueError):
    """An OUT_DIR the export may not write into."""


@dataclass(frozen=True)
class StoredTensors:
    """Where write_onnx put each tensor in DATA_FILE."""

    by_name: dict[str, dict[str, Any]]  # initializer -> {file, offset, shape, dtype}
    offset_by_sha256: dict[str, int]  # sha256 of a tensor's bytes -> its offset


def _owned_files(out_dir: Path) -> set[str]:
    """Files an earlier export wrote into out_dir: its manifest and what it lists."""
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text())
        return {MANIFEST_NAME, *manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def check_output_folder(out_dir: Path, *, force: bool) -> None:
    """Raise OutputFolderError if an export may not write a bundle to out_dir."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutputFolderError(
            f"{out_dir}: not empty; choose a new folder or pass --force to replace "
            "an earlier bundle there"
        )


class BundleWriter:
    """Use as a context manager; call finish() inside it to publish the bundle."""

    def __init__(self, out_dir: Path, *, force: bool = False) -> None:
        self.out_dir = out_dir
        self.force = force
        check_output_folder(out_dir, force=force)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever happened (KeyboardInterrupt included), the temporary folder goes.
        shutil.rmtree(self.folder, ignore_errors=True)

    def write_onnx(self, model: onnx.ModelProto) -> StoredTensors:
        """Write model.onnx and model.onnx.data; return where each externalised
        initializer lies.

        Tensors start at multiples of ALIGNMENT; identical tensors (the int8 rows
        of a tied embedding and output head) are stored once."""
        locations: dict[str, dict[str, Any]] = {}
        by_content: dict[str, int] = {}
        with (self.folder / DATA_FILE).open("wb") as data:
            for init in model.graph.initializer:
                if init.data_type not in _EXTERNAL_TYPES:
                    continue
                raw = np.ascontiguousarray(numpy_helper.to_array(init)).tobytes()
                digest = hashlib.sha256(raw).hexdigest()
                offset = by_content.get(digest)
                if offset is None:
                    end = data.tell()
                    offset = end + (-end % ALIGNMENT)
                    data.write(b"\0" * (offset - end))
                    data.write(raw)
                    by_content[digest] = offset
                init.ClearField("raw_data")
                for field in ("float_data", "int32_data"):
                    init.ClearField(field)
                init.data_location = onnx.TensorProto.EXTERNAL
                del init.external_data[:]
                for key, value in (
                    ("location", DATA_FILE),
                    ("offset", offset),
                    ("length", len(raw)),
                ):
                    init.external_data.add(key=key, value=str(value))
                locations[init.name] = {
                    "file": DATA_FILE,
                    "offset": offset,
                    "shape": list(init.dims),
                    "dtype": _EXTERNAL_TYPES[init.data_type],
                }
        onnx.save_model(model, str(self.folder / ONNX_FILE))
        return StoredTensors(locations, by_content)

    def add_file(self, name: str, source: Path) -> None:
        """Copy a file (e.g. tokenizer.json) into the bundle as `name`."""
        shutil.copyfile(source, self.folder / name)

    def add_text(self, name: str, text: str) -> None:
        """Write a UTF-8 text file (e.g. the chat template) into the bundle as `name`."""
        (self.folder / name).write_text(text, encoding="utf-8")

    def finish(self, manifest: dict[str, Any], signer: Any | None = None) -> dict[str, Any]:
        """Checksum every file in the bundle folder (whoever wrote it: model.tflite
        comes from the TFLite exporter), write bundle.json, sign it with `signer`
        (signing.sign_manifest's key) if given, and move the bundle to out_dir."""
        files = {
            p.relative_to(self.folder).as_posix(): {
                "sha256": file_sha256(p),
                "bytes": p.stat().st_size,
            }
            for p in sorted(self.folder.rglob("*"))
            if p.is_file()
        }
        manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **manifest, "files": files}
        if signer is not None:
            from .signing import sign_manifest

            manifest["signature"] = sign_manifest(manifest, signer)
        (self.folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        self._publish(files)
        return manifest

    def _publish(self, files: dict[str, Any]) -> None:
        umask = os.umask(0)
        os.umask(umask)
        self.folder.chmod(0o777 & ~umask)  # mkdtemp made it private; a bundle is not
        if not self.out_dir.exists() or not any(self.out_dir.iterdir()):
            if self.out_dir.exists():
                self.out_dir.rmdir()  # empty: a folder can only be renamed onto nothing
            os.replace(self.folder, self.out_dir)
            return
        owned = _owned_files(self.out_dir)
        foreign = sorted(
            name
            for name in [*files, MANIFEST_NAME]
            if (self.out_dir / name).exists() and name not in owned
        )
        if foreign:
            raise OutputFolderError(
                f"{self.out_dir}: {', '.join(foreign)} would be overwritten but no earlier "
                f"export wrote them (not listed in {MANIFEST_NAME}); move them away"
            )
        # The old manifest goes first, so no mix of old and new files ever loads.
        (self.out_dir / MANIFEST_NAME).unlink(missing_ok=True)
        for name in sorted(owned - set(files) - {MANIFEST_NAME}):
            (self.out_dir / name).unlink(missing_ok=True)  # stale files of the old bundle
        for name in files:
            (self.out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.folder / name, self.out_dir / name)
        os.replace(self.folder / MANIFEST_NAME, self.out_dir / MANIFEST_NAME)
