"""`recipe babi-arith run` needs its data folder named: an installed package has no
source checkout to find it beside."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from edge_reason.cli import main

RUN = ["recipe", "babi-arith", "run"]


def test_without_data_or_environment_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("EDGE_REASON_DATA", raising=False)
    result = CliRunner().invoke(main, [*RUN, "--work", str(tmp_path / "work")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Error: no data folder: pass --data FOLDER or set $EDGE_REASON_DATA" in result.output
    assert not (tmp_path / "work").exists()


def test_the_environment_names_the_data_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_REASON_DATA", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, [*RUN, "--work", str(tmp_path / "work")])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line == f"Error: {tmp_path / 'nowhere'}: the data folder does not exist"
