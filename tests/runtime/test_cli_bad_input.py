"""Bad input to commands across the CLI: one line saying what is wrong, exit code 1
(or 2 for a usage error), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_reason.cli import main


def one_line_error(args: list[str], exit_code: int) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    return error


def test_make_model_into_a_folder_it_cannot_create() -> None:
    error = one_line_error(["make-model", "/proc/forbidden"], 1)
    assert error == "Error: /proc/forbidden: No such file or directory"


def test_keygen_into_a_missing_folder() -> None:
    error = one_line_error(["keygen", "/nonexistent/dir/key"], 1)
    assert error == "Error: /nonexistent/dir/key: No such file or directory"


def test_deploy_to_a_file(tmp_path: Path) -> None:
    bundle, target = tmp_path / "bundle", tmp_path / "target.txt"
    bundle.mkdir()
    target.write_text("not a folder")
    error = one_line_error(["deploy", str(bundle), str(target)], 1)
    expected = f"{target}: not a folder (a local target is a folder, created if missing)"
    assert error == f"Error: {expected}"


@pytest.mark.parametrize(
    "args",
    [["rules", "eval", "arithmetic", "-q", ""], ["ask", ""], ["ask", "--no-model", "  "]],
)
def test_an_empty_question(args: list[str]) -> None:
    assert one_line_error(args, 2).endswith("the question is empty")


def test_ask_bounds_its_samples() -> None:
    error = one_line_error(["ask", "--no-model", "--samples", "100000000", "What is 2 + 2?"], 2)
    assert "100000000 is not in the range 1<=x<=64" in error
    help_text = CliRunner().invoke(main, ["ask", "--help"]).output
    assert "(at most 64)" in help_text
