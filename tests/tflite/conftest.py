from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.hf_models import build_model

pytest.importorskip("litert_torch", reason="the [tflite] extra is not installed")

from edge_reason.export.tflite_export import add_tflite  # noqa: E402

# Small enough to convert in seconds; the prefill chunk is below the test
# prompts' length so that they need several chunks, the last one padded.
MAX_CONTEXT = 64
PREFILL_TOKENS = 16


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """architecture -> a random-weight model folder, built once."""
    root = tmp_path_factory.mktemp("hf")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            built[name] = build_model(root / name, name, seed=len(built))
        return built[name]

    return build


@pytest.fixture(scope="session")
def export_bundle(
    hf_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], tuple[Path, dict]]:
    """(architecture, weights) -> (bundle folder, manifest), each converted once."""
    done: dict[tuple[str, str], tuple[Path, dict]] = {}

    def export(name: str, weights: str) -> tuple[Path, dict]:
        if (name, weights) not in done:
            bundle = tmp_path_factory.mktemp(f"bundle-{name}-{weights}")
            entry = add_tflite(
                bundle,
                hf_dir(name),
                max_context=MAX_CONTEXT,
                prefill_tokens=PREFILL_TOKENS,
                weights=weights,
            )
            done[name, weights] = bundle, {"tflite": entry}
        return done[name, weights]

    return export
