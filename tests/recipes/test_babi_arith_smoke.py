"""The recipe end to end in smoke mode (a few steps of every stage on a slice of the data),
and the training loop's interruption and exact resume."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from edge_reason.export.recipes.babi_arith.evaluation import best_strategy

from edge_reason.bundle import Bundle
from edge_reason.cli import main
from edge_reason.engine import Engine
from edge_reason.reasoning.calibration import MANIFEST_KEY
from edge_reason.reasoning.prompts import PromptFormat
from edge_reason.reasoning.reasoner import Reasoner


def _run(work: Path, data_root: Path, *extra: str) -> object:
    arguments = ["recipe", "babi-arith", "run", "--work", str(work), "--data", str(data_root)]
    return CliRunner().invoke(main, [*arguments, "--smoke", "--quiet", *extra])


@pytest.mark.slow  # runs the whole recipe (trains, exports, evaluates)
def test_smoke_run_writes_a_bundle_that_loads_and_carries_its_evaluation(
    tmp_path: Path, data_root: Path
) -> None:
    work = tmp_path / "work"
    result = _run(work, data_root, "--json")
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.output.strip().splitlines()[-1])
    assert list(summaries) == [
        "prepare",
        "tokenizer",
        "teacher",
        "student",
        "quantize",
        "evaluate",
        "bundle",
    ]
    assert summaries["student"]["result"]["init"] == "pruned"  # cut from the teacher
    bundle = Bundle.open(work / "bundle" / "model")  # checksums verify
    assert bundle.quant == "int4"
    evaluation = bundle.manifest["quality"]["evaluation"]
    assert set(evaluation["models"]) == {"teacher_f32", "student_f32", "student_int4"}
    int4 = evaluation["models"]["student_int4"]["strategies"]
    assert set(int4) == {"direct", "cot", "self_consistency"}
    assert len(int4["cot"]["babi"]["per_task_error"]) == 20
    assert "4" in int4["cot"]["addition"]["by_digits"]  # one digit more than training saw
    split = bundle.manifest["recipe"]["split"]
    assert all(entry["validation"][0] < entry["validation"][1] for entry in split["babi"])
    curve = [json.loads(line) for line in (work / "teacher" / "curve.jsonl").open()]
    assert any(r["kind"] == "validation" and "qa20" in r["per_task"] for r in curve)
    engine = Engine.load(work / "bundle" / "model", threads=1)
    assert engine.generate("Where is Mary?\n", max_new_tokens=4).stats.generated_tokens >= 1
    # the Reasoner reads the formats the model was trained in from the bundle
    declared = {f["name"]: f for f in bundle.manifest["prompt_formats"]}
    assert Reasoner(engine).formats["babi"] == PromptFormat.from_dict(declared["babi"])
    assert set(declared) == {"babi", "gsm8k"}
    assert all(f["feedback"] == "" for f in declared.values())  # no training text has one
    # and the policy it was measured with, and the strategy that measured best
    assert bundle.manifest["reasoning"] == {
        "max_revisions": evaluation["max_revisions"],
        "best_strategy": best_strategy(evaluation, "student_int4"),
    }
    assert Reasoner(engine).policy.best_strategy in int4
    # and its confidence calibration, fitted on the first half of the questions of each task
    calibration = evaluation["models"]["student_int4"]["confidence_calibration"]
    assert bundle.manifest[MANIFEST_KEY] == calibration["manifest"]
    assert set(calibration["manifest"]["strategies"]) == set(int4)
    assert all(n >= 20 for n in calibration["fitted_answers"].values())
    assert set(Reasoner(engine).calibrator.strategies) == set(int4)

    # the README's tables are printed from the report
    tables = CliRunner().invoke(main, ["recipe", "babi-arith", "report", "--work", str(work)])
    assert tables.exit_code == 0, tables.output
    rows = tables.output.splitlines()
    assert rows[0].startswith("| model | strategy | bAbI tasks passed")
    assert "| addition " in rows[0] and rows[0].endswith(" 4 digits |")
    assert sum(row.startswith("| student_int4 |") for row in rows) == 3
    assert rows[-1].startswith("median CoT latency (ms): teacher_f32 ")

    again = _run(work, data_root)
    assert again.exit_code != 0 and "--resume" in again.output
    resumed = _run(work, data_root, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output.strip().splitlines()[-1]) == summaries  # nothing reran


def _job(folder: Path, tokenizer_file: Path, data_root: Path, objective: object) -> object:
    import transformers
    from edge_reason.export.recipes.babi_arith.documents import story_document
    from edge_reason.export.recipes.babi_arith.packing import BatchSchedule, encode_document, pack
    from edge_reason.export.recipes.babi_arith.settings import load_settings
    from edge_reason.export.recipes.babi_arith.stories import read_stories
    from edge_reason.export.recipes.babi_arith.tokenizer import load_tokenizer
    from edge_reason.export.recipes.babi_arith.training import TrainingJob
    from edge_reason.export.recipes.babi_arith.validation import ValidationCurve

    tokenizer = load_tokenizer(tokenizer_file)
    (path,) = (data_root / "babi" / "train").glob("qa1_*_train.txt")
    encoded = [encode_document(story_document(s), tokenizer, 2) for s in read_stories(path)[:24]]
    settings = load_settings(smoke=True)
    training = replace(settings.teacher.training, epochs=1.0, checkpoint_every=100)
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    return TrainingJob(
        folder=folder,
        model=transformers.LlamaForCausalLM(config),
        objective=objective,
        schedule=BatchSchedule(pack(encoded, (256, 512)), 512, seed=5),
        settings=training,
        batch_tokens=512,
        digest="test",
        curve=ValidationCurve(encoded[:2], (256, 512)),
        tokenizer_file=tokenizer_file,
    )


@pytest.mark.slow  # runs the whole recipe (trains, exports, evaluates)
def test_an_interrupted_run_resumes_exactly(
    tmp_path: Path, tokenizer_file: Path, data_root: Path
) -> None:
    from edge_reason.export.recipes.babi_arith.objectives import CrossEntropy
    from edge_reason.export.recipes.babi_arith.training import TrainingInterrupted, train

    straight = _job(tmp_path / "straight", tokenizer_file, data_root, CrossEntropy())
    train(straight, resume=False, progress=False)
    assert straight.total_steps >= 4

    calls = []

    def interrupted_at_step_3(model: object, batch: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGTERM)  # arrives mid-step: the step finishes first
        return CrossEntropy()(model, batch)

    first = _job(tmp_path / "resumed", tokenizer_file, data_root, interrupted_at_step_3)
    with pytest.raises(TrainingInterrupted, match="SIGTERM after step 3"):
        train(first, resume=False, progress=False)
    second = _job(tmp_path / "resumed", tokenizer_file, data_root, CrossEntropy())
    summary = train(second, resume=True, progress=False)
    assert summary["resumed_from_step"] == 3
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), second.model.state_dict()[name].numpy())

    def steps(run: str) -> list[int]:
        return [json.loads(line)["step"] for line in (tmp_path / run / "curve.jsonl").open()]

    assert steps("resumed") == steps("straight")  # no step logged twice
