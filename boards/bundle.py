"""What deploy adds to the runtime's bundle manifest (edge_reason/bundle_manifest.py):
writing a manifest for a folder, and checking a bundle's files before an upload, listing
every problem at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle_manifest import MANIFEST_NAME, BundleError, BundleFile, file_sha256, parse_manifest


@dataclass(frozen=True)
class BundleFolder:
    """A bundle folder and the files its manifest lists."""

    root: Path
    files: tuple[BundleFile, ...]

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


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


def load_bundle(folder: Path) -> BundleFolder:
    """Read and validate a bundle's manifest (the files themselves are checked by
    `verify_bundle`)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"{folder}: not a bundle: no {MANIFEST_NAME}") from None
    return BundleFolder(root=folder, files=parse_manifest(text, str(path)))


def verify_bundle(bundle: BundleFolder) -> None:
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
