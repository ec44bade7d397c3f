"""`edge-reason rules list|check|eval`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from edge_reason.cli.rules import rules


def run(*arguments: str):
    return CliRunner().invoke(rules, list(arguments))


def test_list_shows_the_builtin_packs() -> None:
    result = run("list", "--json")
    assert result.exit_code == 0
    names = {pack["name"] for pack in json.loads(result.output)["packs"]}
    assert {"arithmetic", "greenhouse", "babi"} <= names


def test_check_runs_a_packs_examples() -> None:
    result = run("check", "greenhouse", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["failed"] == 0 and report["examples"] >= 5


def test_check_reports_file_and_line_of_a_broken_pack(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[pack]\nname = "bad"\n\n[constants]\nx = "a.b"\n', encoding="utf-8")
    result = run("check", str(path))
    assert result.exit_code == 1
    assert f"{path}:5:" in result.output and "attribute access" in result.output


def test_check_fails_when_an_example_fails(tmp_path: Path) -> None:
    path = tmp_path / "wrong.toml"
    path.write_text(
        '[pack]\nname = "wrong"\n\n[[question]]\nid = "q"\npattern = "two"\nanswer = "{1 + 1}"\n\n'
        '[[example]]\nquestion = "two"\nexpect = "3"\n',
        encoding="utf-8",
    )
    result = run("check", str(path), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["failures"][0] == {
        "line": 9, "example": "two", "expected": "3", "got": "2"
    }  # fmt: skip


def test_eval_decides_outputs_from_inputs() -> None:
    result = run(
        "eval", "greenhouse", "--json",
        "-i", "soil_moisture=20", "-i", "temperature=34 F", "-i", "humidity=50", "-i", "time=06:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    decisions = json.loads(result.output)["decisions"]
    assert decisions["heater"]["answer"] == "on"
    assert decisions["irrigation"]["rule"] == "frost_protection"


def test_eval_answers_a_question_and_rejects_bad_inputs() -> None:
    result = run("eval", "arithmetic", "--question", "What is 17*23 + 4?", "--json")
    assert json.loads(result.output)["result"]["answer"] == "395"
    bad = run("eval", "greenhouse", "-i", "moisture=3")
    assert bad.exit_code == 1 and "unknown input 'moisture'" in bad.output


def test_ask_without_a_model_reports_a_spent_budget_in_one_line(tmp_path: Path) -> None:
    from edge_reason.cli.reason import ask

    story = tmp_path / "story.txt"
    lines = (f"The t{i} is bigger than the t{i + 1}." for i in range(1, 301))
    story.write_text("\n".join(lines), encoding="utf-8")
    arguments = ["--no-model", "--rules", "babi", "--context", str(story), "--budget-ms", "50"]
    result = CliRunner().invoke(ask, [*arguments, "Is the t1 bigger than the t301?"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "answer: (none)" in result.output
    # what is left of the 50 ms once the question was checked against the story
    assert re.search(r"ran out of its \d+ ms time budget while forward chaining", result.output)


def test_a_pack_with_an_infinite_constant_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "inf.toml"
    path.write_text('[pack]\nname = "inf"\n\n[constants]\nlimit = inf\n', encoding="utf-8")
    result = run("eval", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.output.strip()
        == f"Error: {path}:5: constants.limit is inf: numbers in a pack must be finite"
    )
