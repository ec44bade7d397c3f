"""A bundle is read only through the files its manifest lists and checksums: a tensor
table that points elsewhere, a listed file that is a link or a FIFO, a manifest whose
architecture leaves tensors unused, and a file swapped after loading are all refused
or harmless."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edge_reason import Engine
from edge_reason.bundle import DATA_FILE, MANIFEST_NAME, BundleError, ChecksumError


@pytest.fixture
def bundle_copy(random_model, export, tmp_path) -> Path:
    return Path(shutil.copytree(export(random_model("llama"), "int8"), tmp_path / "b"))


def edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("name", ["/etc/passwd", "../b/model.onnx.data", "tokenizer.json", "x"])
def test_tensor_table_names_only_the_weight_file(bundle_copy, name) -> None:
    (bundle_copy / "x").write_bytes(b"\0" * 4096)  # an unlisted file beside the listed ones
    edit_manifest(bundle_copy, lambda m: m["tensors"]["final_norm"].update(file=name))
    with pytest.raises(BundleError, match=rf"tensors\.final_norm: file '{name}': weights lie in"):
        Engine.load(bundle_copy)


def test_manifest_with_fewer_layers_than_its_tensors(bundle_copy) -> None:
    edit_manifest(bundle_copy, lambda m: m["architecture"].update(num_hidden_layers=1))
    with pytest.raises(BundleError, match=r"\(1 layers\) does not use: layers\.1\."):
        Engine.load(bundle_copy)


def test_listed_file_that_links_out_is_refused(bundle_copy, tmp_path) -> None:
    outside = tmp_path / "tokenizer.json"
    shutil.copy(bundle_copy / "tokenizer.json", outside)
    (bundle_copy / "tokenizer.json").unlink()
    (bundle_copy / "tokenizer.json").symlink_to(outside)
    with pytest.raises(BundleError, match=r"'tokenizer\.json' is a link out of place"):
        Engine.load(bundle_copy)


def test_listed_file_that_is_a_fifo_is_refused_without_blocking(bundle_copy) -> None:
    (bundle_copy / DATA_FILE).unlink()
    os.mkfifo(bundle_copy / DATA_FILE)
    with pytest.raises(ChecksumError, match=r"model\.onnx\.data: not a regular file \(a FIFO\)"):
        Engine.load(bundle_copy)


@pytest.mark.parametrize("name", ["a\\b", "a\nb", "", "/abs"])
def test_file_names_that_could_point_elsewhere(bundle_copy, name) -> None:
    edit_manifest(bundle_copy, lambda m: m["files"].update({name: {"bytes": 0, "sha256": ""}}))
    with pytest.raises(BundleError, match="points outside the bundle"):
        Engine.load(bundle_copy)


def test_tokenizer_swapped_after_load_changes_nothing(bundle_copy, random_model) -> None:
    # the engine reads the tokenizer bytes it verified, not what the path names later
    engine = Engine.load(bundle_copy, threads=1)
    text = "the kitchen is north of the garden"
    (bundle_copy / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    assert engine.encode(text) == Engine.load(random_model("llama"), threads=1).encode(text)
