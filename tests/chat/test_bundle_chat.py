"""The export carries the chat template into the bundle, checksummed like its other files."""

from __future__ import annotations

import json

import pytest
from edge_reason.export.pipeline import ExportRequest, export_bundle
from helpers.chat_models import template_source
from helpers.hf_models import CORPUS

from edge_reason import Engine
from edge_reason.bundle import ChecksumError

QUESTION = [{"role": "user", "content": "Where is Mary?"}]


def test_a_bundle_chats_like_its_source_model(chat_model, tmp_path) -> None:
    source = chat_model("llama3")
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(CORPUS * 4) + "\n")
    bundle = tmp_path / "bundle"
    manifest = export_bundle(ExportRequest(source, bundle, "int8", "rtn", calibration))
    assert {"chat_template.jinja", "special_tokens_map.json"} <= set(manifest["files"])
    tokens = json.loads((bundle / "special_tokens_map.json").read_text())
    assert tokens == {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}

    engine = Engine.load(bundle, threads=1)
    assert engine.chat_template == template_source("llama3")
    hf = Engine.load(source, quant="int8", threads=1)
    assert engine.apply_chat_template(QUESTION) == hf.apply_chat_template(QUESTION)
    assert engine.chat(QUESTION, max_new_tokens=4).token_ids

    (bundle / "chat_template.jinja").write_text("{{ 'changed' }}")
    with pytest.raises(ChecksumError, match="chat_template.jinja: .*bytes"):
        Engine.load(bundle, threads=1)
