"""A bundle's manifest, bundle.json: its name, the files it lists, and the checks on them.

Every reader of a manifest goes through here: the runtime opening a bundle (bundle.py)
and deploy copying one to a device (boards/). The files listing is

    {"files": {"model.onnx": {"sha256": "<64 hex>", "bytes": 123}, ...}, ...}

and each name must be a plain relative path inside the bundle.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import EdgeReasonError
from .regular_file import open_regular

MANIFEST_NAME = "bundle.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK = 1 << 22


class BundleError(EdgeReasonError, ValueError):
    """A bundle whose manifest is malformed or whose files do not match it."""


@dataclass(frozen=True)
class BundleFile:
    """One file a bundle's manifest promises."""

    name: str  # relative POSIX path inside the bundle
    sha256: str
    bytes: int


def file_sha256(path: Path) -> str:
    """The hex sha256 of a regular file, read in chunks so model files need not fit in
    memory."""
    with open_regular(path) as f:
        return content_sha256(f)


def content_sha256(content: bytes | mmap.mmap | io.FileIO) -> str:
    """The hex sha256 of bytes, a mapping or an open file (read from where it stands)."""
    digest = hashlib.sha256()
    if isinstance(content, io.FileIO):
        while chunk := content.read(_HASH_CHUNK):
            digest.update(chunk)
    else:
        with memoryview(content) as view:
            for start in range(0, len(view), _HASH_CHUNK):
                digest.update(view[start : start + _HASH_CHUNK])
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
        raise BundleError(
            f"{where}: files entry {name!r} is not a plain relative file name (one that "
            "neither points outside the bundle nor holds a newline, backslash or NUL)"
        )
    return name


def read_manifest(text: str | bytes, source: str) -> Any:
    """A manifest's JSON value; `source` names it in errors (a local path, or a version on
    a device)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BundleError(f"{source}:{e.lineno}: not valid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise BundleError(f"{source}: not valid JSON: not UTF-8 ({e.reason})") from None


def listed_files(manifest: Any, source: str) -> tuple[BundleFile, ...]:
    """The files a manifest lists, by name, each name and entry checked."""
    listed = manifest.get("files") if isinstance(manifest, dict) else None
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


def parse_manifest(text: str | bytes, source: str) -> tuple[BundleFile, ...]:
    """The files a manifest's text lists, validated."""
    return listed_files(read_manifest(text, source), source)
