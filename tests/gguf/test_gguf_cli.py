"""The command line on the real SmolLM2 GGUF file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers.real_models import smollm2_gguf

from edge_reason.cli import main


@pytest.fixture(scope="module")
def path() -> str:
    return str(smollm2_gguf())


def test_generate_streams_text_and_reports_speed(path: str) -> None:
    result = CliRunner().invoke(main, ["generate", path, "The capital of France is"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert "prefill" in result.stderr and "decode" in result.stderr


def test_info_names_the_conversions(path: str) -> None:
    result = CliRunner().invoke(main, ["info", path, "--json", "--quant", "int4"])
    assert result.exit_code == 0, result.output
    details = json.loads(result.stdout)
    assert details["quant"] == "int4"
    assert details["gguf_conversions"]["Q4_1->q4 (requantized)"] == 210


def test_chat_answers_from_stdin(path: str) -> None:
    result = CliRunner().invoke(main, ["chat", path], input="What is 2+2?\n")
    assert result.exit_code == 0, result.output
    assert "4" in result.stdout


def test_a_file_that_is_not_a_model_is_one_line_error(tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = CliRunner().invoke(main, ["generate", str(junk), "hi"])
    assert result.exit_code == 1
    assert "not a GGUF file" in result.output and "Traceback" not in result.output
