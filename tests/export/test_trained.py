"""The quality targets, on a model trained on reasoning traces (not random weights)."""

from __future__ import annotations

import json

import pytest

from edge_reason import Engine

# Slow tier: trains a 4-layer Llama for 300 steps (a minute of CPU), then GPTQ-exports it.
pytestmark = pytest.mark.slow


def quality(bundle) -> dict:
    return json.loads((bundle / "bundle.json").read_text())["quality"]["variants"]


def test_int8_quality(trained_model, export):
    q = quality(export(trained_model, "int8", "rtn"))
    print("int8", json.dumps(q))
    assert q["rtn"]["top1_agreement"] >= 0.99


def test_int4_gptq_quality_beats_rtn(trained_model, export):
    q = quality(export(trained_model, "int4", "gptq"))
    print("int4", json.dumps(q))
    assert q["gptq"]["top1_agreement"] >= 0.95
    assert q["gptq"]["mean_kl"] < q["rtn"]["mean_kl"]
    # an f32 output head can only be closer to f32 than a quantized one
    assert q["gptq_f32_head"]["mean_kl"] <= q["gptq"]["mean_kl"]


def test_int8_greedy_generations_identical_in_native_and_onnxruntime(
    trained_model, export, validation_traces
):
    bundle = export(trained_model, "int8", "rtn")
    native = Engine.load(bundle, threads=1)
    ort = Engine.load(bundle, backend="onnxruntime", threads=1)
    # the last validation stories (the calibration file has the first), cut after the question
    prompts = [t[: t.rindex("?") + 1] for t in validation_traces[-8:]]
    for prompt in prompts:
        a = native.generate(prompt, max_new_tokens=24)
        b = ort.generate(prompt, max_new_tokens=24)
        assert a.token_ids == b.token_ids, prompt
