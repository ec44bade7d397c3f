"""`export` shows its own progress and results, not the libraries' import-time notices."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli_process import THIRD_PARTY_CHATTER, run_cli


@pytest.mark.slow  # an export in a fresh interpreter: about 25 s
def test_export_prints_only_its_own_lines(random_model, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    done = run_cli("export", str(random_model("llama")), str(out), "--quant", "int8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not THIRD_PARTY_CHATTER.findall(done.stderr), done.stderr
    assert "writing ONNX" in done.stderr and "wrote" in done.stdout
