from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_reason.boards.bundle import load_bundle, make_manifest, verify_bundle

from edge_reason.bundle_manifest import BundleError


def test_manifest_lists_every_file_but_itself_with_size_and_sha256(
    tmp_path: Path, make_bundle: Callable
) -> None:
    folder = make_bundle(tmp_path / "b", {"model.bin": b"weights", "sub/tok.json": b"{}"})
    manifest = json.loads((folder / "bundle.json").read_text())
    assert manifest == {
        "files": {
            "model.bin": {"sha256": hashlib.sha256(b"weights").hexdigest(), "bytes": 7},
            "sub/tok.json": {"sha256": hashlib.sha256(b"{}").hexdigest(), "bytes": 2},
        }
    }
    assert make_manifest(folder) == manifest
    bundle = load_bundle(folder)
    assert [f.name for f in bundle.files] == ["model.bin", "sub/tok.json"]
    verify_bundle(bundle)


def test_a_missing_or_changed_file_fails_local_verification(
    tmp_path: Path, make_bundle: Callable
) -> None:
    folder = make_bundle(tmp_path / "b", {"a.bin": b"aaaa", "b.bin": b"bbbb", "c.bin": b"cc"})
    (folder / "a.bin").unlink()
    (folder / "b.bin").write_bytes(b"bbbx")
    (folder / "c.bin").write_bytes(b"ccc")
    with pytest.raises(BundleError) as error:
        verify_bundle(load_bundle(folder))
    assert str(error.value).endswith(
        "a.bin: missing; b.bin: sha256 differs from the manifest; c.bin: 3 bytes, manifest says 2"
    )


SHA = "0" * 64


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("[]", "'files' must be a non-empty object"),
        ('{"files": {}}', "'files' must be a non-empty object"),
        ('{"files":\n {"a": 1,}}', r"bundle.json:2: not valid JSON"),
        (json.dumps({"files": {"../etc/passwd": {"sha256": SHA, "bytes": 1}}}), "plain relative"),
        (json.dumps({"files": {"/abs": {"sha256": SHA, "bytes": 1}}}), "plain relative"),
        (json.dumps({"files": {"a\nb": {"sha256": SHA, "bytes": 1}}}), "plain relative"),
        (json.dumps({"files": {"bundle.json": {"sha256": SHA, "bytes": 1}}}), "list itself"),
        (json.dumps({"files": {"a": {"sha256": "ABC", "bytes": 1}}}), r"\['a'\].sha256: must be"),
        (json.dumps({"files": {"a": {"sha256": SHA, "bytes": -1}}}), r"\['a'\].bytes: must be"),
        (json.dumps({"files": {"a": {"sha256": SHA}}}), "exactly 'sha256' and 'bytes'"),
    ],
)
def test_a_malformed_manifest_is_refused(tmp_path: Path, manifest: str, message: str) -> None:
    (tmp_path / "bundle.json").write_text(manifest)
    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path)


def test_a_folder_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle: no bundle.json"):
        load_bundle(tmp_path)
