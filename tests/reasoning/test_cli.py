import importlib.util
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_reason.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_ask_without_a_model_answers_from_the_arithmetic_pack(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ask", "--no-model", "What is 17*23 + 4?"])
    assert result.exit_code == 0, result.output
    assert "answer: 395" in result.output
    assert "source: rules" in result.output
    assert "✓ question 'calculate' matched" in result.output


def test_ask_json_with_a_story(runner: CliRunner, tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_text("1 Mary moved to the bathroom.\n2 Mary went to the garden.\n")
    result = runner.invoke(
        main, ["ask", "--no-model", "--json", "--context", str(story), "Where is Mary?"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["answer"] == "garden" and answer["source"] == "rules"
    assert answer["citations"][0]["ref"] == "line 2"
    assert all(step["status"] == "verified" for step in answer["steps"])


def test_ask_refuses_model_and_no_model_together(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["ask", "--no-model", "--model", str(tmp_path), "Hi?"])
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_ask_tool_choice_is_not_silently_ignored(runner: CliRunner) -> None:
    """Refused with --no-model; for a model that is no chat model (the shipped one), a
    warning that it is asked as before."""
    result = runner.invoke(main, ["ask", "--no-model", "--tool-choice", "auto", "What is 1+1?"])
    assert result.exit_code == 2 and "--tool-choice" in result.output
    result = runner.invoke(main, ["ask", "--tool-choice", "required", "What is 17*23 + 4?"])
    assert result.exit_code == 0, result.output
    assert "warning: --tool-choice applies to a chat model" in result.stderr
    assert "answer: 395" in result.stdout


def test_ask_refuses_a_quant_for_the_shipped_model(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ask", "--quant", "int8", "What is 1+1?"])
    assert result.exit_code == 2 and "--quant needs --model" in result.output


def test_ask_reports_an_unknown_rule_pack(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ask", "--no-model", "--rules", "nosuch", "What is 1+1?"])
    assert result.exit_code == 1
    assert "no built-in pack 'nosuch'" in result.output


def test_ask_refuses_a_context_that_is_no_text_file(runner: CliRunner, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "story.fifo")  # refused before it is opened: nothing waits on it
    (tmp_path / "latin.txt").write_bytes("1 Mary went to the café.\n".encode("latin-1"))
    refusals = {
        "/dev/zero": "/dev/zero: not a regular file (a character device)",  # was MemoryError
        str(tmp_path / "story.fifo"): "story.fifo: not a regular file (a FIFO)",
        str(tmp_path / "latin.txt"): "latin.txt: not UTF-8 text (byte 23 is 0xe9)",
    }
    for path, error in refusals.items():
        result = runner.invoke(main, ["ask", "--no-model", "--context", path, "Where is Mary?"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert error in result.output and len(result.output.splitlines()) == 1


def test_ask_fits_a_passage_longer_than_the_context(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    docs, db = tmp_path / "docs", tmp_path / "docs.db"
    docs.mkdir()
    (docs / "manual.md").write_text("The valve opens at 30%. " + "filler " * 100_000)
    assert runner.invoke(main, ["index", str(docs), "--db", str(db)]).exit_code == 0
    args = [
        "ask",
        "--model",
        str(babi_quick_model_dir),
        "--db",
        str(db),
        "When does the valve open?",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{docs}/manual.md passage 1 cut to" in result.output


def test_ask_refuses_a_story_longer_than_the_context(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    story = tmp_path / "story.txt"
    story.write_text("".join(f"{n} Mary moved to the bathroom.\n" for n in range(1, 200)))
    args = ["ask", "--model", str(babi_quick_model_dir), "--context", str(story), "Where is Mary?"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "but the model's context holds 256: shorten the question or its story" in result.output


def test_verify_reports_failed_steps(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "solutions.jsonl"
    records = [
        {"question": "q1", "answer": "48/2 = <<48/2=24>>24\n#### 24"},
        {"question": "q2", "answer": "3*4 = <<3*4=13>>13\n5+5 = <<5+5=10>>10\n#### 23"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = runner.invoke(main, ["verify", str(data), "--format", "gsm8k", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["solutions"], report["steps"], report["failed"]) == (2, 3, 1)
    assert report["failures"] == [{"where": f"{data}:2", "step": "3*4 = 12, not 13"}]
    text = runner.invoke(main, ["verify", str(data)])
    assert "2 solutions, 3 steps checked, 1 failed" in text.output


def test_verify_names_the_bad_line(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "q", "answer": "#### 1"}\n{"question": "q"}\n')
    result = runner.invoke(main, ["verify", str(data)])
    assert result.exit_code == 1
    assert f"{data}:2: missing text field 'answer'" in result.output


def test_index_then_ask_with_the_store(runner: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pump.md").write_text("Hold the red button to reset the pump.")
    db = tmp_path / "docs.db"
    result = runner.invoke(main, ["index", str(docs), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "db": str(db),
        "added": 1,
        "passages": 1,
        "files": 1,
        "unchanged": 0,
        "removed": [],
        "embedded": 0,
        "embedding_model": None,
        "skipped": [],
        "replaced": [],
    }
    result = runner.invoke(main, ["ask", "--no-model", "--db", str(db), "What is 2 + 2?"])
    assert "answer: 4" in result.output


def test_index_names_files_whose_names_are_not_utf_8(runner: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("Hold the red button to reset the pump.")
    (docs / os.fsdecode(b"bin\xff.md")).write_bytes(b"\0")
    result = runner.invoke(main, ["index", str(docs), "--db", str(tmp_path / "docs.db")])
    assert result.exit_code == 0, result.output
    assert "indexed 1 passages from 1 files" in result.output
    assert f"skipped {docs}/bin\\xff.md: binary (holds NUL bytes)" in result.output
    result = runner.invoke(main, ["ask", "--no-model", "--db", str(tmp_path / "docs.db"), "pump?"])
    assert f"cites {docs}/caf\\xe9.md passage 1" in result.output


def test_index_refuses_a_database_of_another_schema(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE customers (name)")
    connection.close()
    before = db.read_bytes()
    (tmp_path / "docs").mkdir()
    result = runner.invoke(main, ["index", str(tmp_path / "docs"), "--db", str(db)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output == (
        f"Error: {db}: not a document store (a database with the tables customers); "
        "it is left as it is: choose another file\n"
    )
    assert db.read_bytes() == before


def test_eval_compares_strategies_on_babi(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "qa1_single-supporting-fact_test.txt"
    data.write_text(
        "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
        "3 Where is Mary? \tbathroom\t1\n4 Daniel went back to the hallway.\n"
        "5 Where is Daniel? \thallway\t4\n"
    )
    args = ["eval", "--model", str(babi_quick_model_dir), "--data", str(data), "--format", "babi"]
    result = runner.invoke(main, [*args, "--strategy", "direct", "--strategy", "cot", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 2 and set(report["by_strategy"]) == {"direct", "cot"}
    assert report["per_task"] == {
        "qa1": {"accuracy": report["accuracy"], "n": 2, "false_verified_rate": 0.0}
    }
    assert report["false_verified"] == 0
    low, high = report["interval_95"]
    assert 0.0 <= low <= report["accuracy"] <= high <= 1.0
    table = runner.invoke(main, [*args, "--strategy", "direct", "--samples", "3"])
    assert table.exit_code == 0, table.output
    assert "direct" in table.output and "95% interval" in table.output
    alone = json.loads(runner.invoke(main, [*args, "--no-rules", "--json"]).output)
    assert set(alone["sources"]) <= {"model", "none"}


def test_eval_skips_problems_longer_than_the_context_and_keeps_the_rest(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "qa1_single-supporting-fact_test.txt"
    long_story = "".join(f"{n} John went to the hallway.\n" for n in range(1, 80))
    data.write_text(
        "1 Mary moved to the bathroom.\n2 Where is Mary? \tbathroom\t1\n"
        + long_story
        + "80 Where is John? \thallway\t79\n"
        + "1 Daniel went to the garden.\n2 Where is Daniel? \tgarden\t1\n"
    )
    args = ["eval", "--model", str(babi_quick_model_dir), "--data", str(data), "--format", "babi"]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 2 and report["skipped_too_long"] == [f"{data}:82"]
    table = runner.invoke(main, args)
    assert f"auto: skipped 1 problems longer than the model's context ({data}:82)" in table.output


def test_eval_that_fails_midway_still_prints_what_it_scored(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_reason.reasoning.reasoner import Reasoner

    data = tmp_path / "qa1_single-supporting-fact_test.txt"
    data.write_text(
        "1 Mary moved to the bathroom.\n2 Where is Mary? \tbathroom\t1\n"
        "1 Daniel went to the garden.\n2 Where is Daniel? \tgarden\t1\n"
    )
    ask = Reasoner.ask

    def fails_on_daniel(self, question, **options):
        if "Daniel" in question:
            raise ValueError("the engine failed")
        return ask(self, question, **options)

    monkeypatch.setattr(Reasoner, "ask", fails_on_daniel)
    args = ["eval", "--model", str(babi_quick_model_dir), "--data", str(data), "--format", "babi"]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert json.loads(result.stdout)["n"] == 1
    assert "stopped before the end (the engine failed)" in result.stderr


def _eval_two_questions(model_dir: Path, tmp_path: Path) -> list[str]:
    """eval's arguments for a two-question bAbI file written under ``tmp_path``."""
    data = tmp_path / "qa1_single-supporting-fact_test.txt"
    data.write_text(
        "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
        "3 Where is Mary? \tbathroom\t1\n4 Daniel went back to the hallway.\n"
        "5 Where is Daniel? \thallway\t4\n"
    )
    return ["eval", "--model", str(model_dir), "--data", str(data), "--format", "babi"]


def test_eval_reports_the_calibration_error_and_fits_a_calibration(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    from edge_reason.reasoning.calibration import Calibrator

    args, fitted = _eval_two_questions(babi_quick_model_dir, tmp_path), tmp_path / "cal.json"
    result = runner.invoke(
        main, [*args, "--strategy", "direct", "--fit-calibration", str(fitted), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 0.0 <= report["ece"] <= 1.0
    assert report["by_strategy"]["direct"]["confidence_calibrated"] is False
    calibrator = Calibrator.from_manifest(json.loads(fitted.read_text()), str(fitted))
    assert set(calibrator.strategies) == {"direct"}
    table = runner.invoke(main, [*args, "--strategy", "direct"])
    assert "ECE" in table.stdout.splitlines()[0]


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="--plot needs matplotlib ([bench])"
)
def test_eval_plot_writes_a_reliability_diagram(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path
) -> None:
    args, png = _eval_two_questions(babi_quick_model_dir, tmp_path), tmp_path / "reliability.png"
    result = runner.invoke(
        main, [*args, "--strategy", "direct", "--strategy", "cot", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_plot_without_matplotlib_fails_before_evaluating(
    runner: CliRunner, babi_quick_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    args, png = _eval_two_questions(babi_quick_model_dir, tmp_path), tmp_path / "reliability.png"
    result = runner.invoke(main, [*args, "--plot", str(png)])
    assert result.exit_code == 1 and "--plot needs matplotlib" in result.output
    assert not png.exists()


def test_an_empty_question_is_a_one_line_error() -> None:
    from click.testing import CliRunner

    from edge_reason.cli import main

    for args in (["ask", ""], ["ask", "--no-model", "   "]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "the question is empty" in result.output and "Traceback" not in result.output
