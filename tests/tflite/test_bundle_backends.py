"""One bundle from `edge-reason export --tflite`, run by all three backends through Engine.load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.hf_models import CORPUS

from edge_reason import Engine
from edge_reason.cli import main

# Slow tier: LiteRT conversion of a model, then three backends (20 s on a busy machine).
pytestmark = pytest.mark.slow


def test_native_onnxruntime_and_tflite_agree_on_a_bundle(
    hf_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(CORPUS * 20))
    bundle = tmp_path / "bundle"
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(hf_dir("llama")),
            str(bundle),
            "--quant",
            "int8",
            "--tflite",
            "--calibration",
            str(calibration),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (bundle / "model.tflite").is_file()
    tokens = {}
    for backend in ("native", "onnxruntime", "tflite"):
        engine = Engine.load(bundle, backend=backend, threads=2, max_context=128)
        assert engine.info()["kernel"]
        tokens[backend] = engine.generate([5, 6, 7, 8, 9], max_new_tokens=10).token_ids
    # int8 weights in all three; the activations differ (int8 blocks in the
    # native engine and onnxruntime, f32 in LiteRT's dynamic-range kernels),
    # which on this random model's wide logit margins still picks the same tokens.
    assert tokens["native"] == tokens["onnxruntime"] == tokens["tflite"]
