"""Model bundles: a folder whose `bundle.json` lists every file with its size and sha256.

{"files": {"model.onnx": {"sha256": "<64 hex>", "bytes": 123}, ...}}
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import EdgeReasonError

MANIFEST_NAME = "bundle.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class BundleError(EdgeReasonError, ValueError):
    """A bundle whose manifest is malformed or whose files do not match it."""


@dataclass(frozen=True)
class BundleFile:
    """One file a bundle's manifest promises."""

    name: str  # relative POSIX path inside the bundle
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Bundle:
    """A bundle folder and the files its manifest lists."""

    root: Path
    files: tuple[BundleFile, ...]

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks so model files need not fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_relative_name(name: str, where: str) -> str:
    """Refuse file names that could leave the bundle folder or confuse line-based tools.

    Newlines and backslashes are refused because `sha256sum` escapes them in its
    output, which would then no longer name the file.
    """
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or ".." in path.parts
        or str(path) != name
        or any(c in name for c in "\n\r\\\0")
    ):
        raise BundleError(f"{where}: {name!r} is not a plain relative file name")
    return name


def make_manifest(folder: Path) -> dict[str, Any]:
    """The manifest describing every file under `folder` except the manifest itself."""
    folder = Path(folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST_NAME:
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    return {"files": files}


def write_manifest(folder: Path) -> Path:
    """Write `bundle.json` for the files now in `folder`; return its path."""
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(make_manifest(folder), indent=2) + "\n", encoding="utf-8")
    return path


def load_bundle(folder: Path) -> Bundle:
    """Read and validate a bundle's manifest (the files themselves are checked by
    `verify_bundle`)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"{folder}: not a bundle: no {MANIFEST_NAME}") from None
    return Bundle(root=folder, files=parse_manifest(text, str(path)))


def parse_manifest(text: str, source: str) -> tuple[BundleFile, ...]:
    """The files a manifest's text lists, validated; `source` names it in errors (a
    local path, or a version on a device)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BundleError(f"{source}:{e.lineno}: not valid JSON: {e.msg}") from None
    listed = data.get("files") if isinstance(data, dict) else None
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"{source}: 'files' must be a non-empty object of file name -> entry")
    files = []
    for name, entry in sorted(listed.items()):
        where = f"{source}: files[{name!r}]"
        check_relative_name(name, source)
        if name == MANIFEST_NAME:
            raise BundleError(f"{where}: the manifest cannot list itself")
        if not isinstance(entry, dict) or set(entry) != {"sha256", "bytes"}:
            raise BundleError(f"{where}: must be an object with exactly 'sha256' and 'bytes'")
        sha, size = entry["sha256"], entry["bytes"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise BundleError(f"{where}.sha256: must be 64 lowercase hex digits, got {sha!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BundleError(f"{where}.bytes: must be a non-negative integer, got {size!r}")
        files.append(BundleFile(name=name, sha256=sha, bytes=size))
    return tuple(files)


def verify_bundle(bundle: Bundle) -> None:
    """Check every listed file exists locally with its size and sha256; BundleError
    listing every problem otherwise."""
    problems = []
    for f in bundle.files:
        path = bundle.root / f.name
        if not path.is_file():
            problems.append(f"{f.name}: missing")
        elif path.stat().st_size != f.bytes:
            problems.append(f"{f.name}: {path.stat().st_size} bytes, manifest says {f.bytes}")
        elif file_sha256(path) != f.sha256:
            problems.append(f"{f.name}: sha256 differs from the manifest")
    if problems:
        raise BundleError(
            f"bundle {bundle.root} does not match its manifest: " + "; ".join(problems)
        )
