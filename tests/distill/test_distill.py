"""Distillation of the trained bAbI teacher into a smaller student."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from click.testing import CliRunner
from edge_reason.export.distill import (
    PROVENANCE,
    TEACHER_TRACES,
    DistillSettings,
    StepMetrics,
    distill,
    latest_checkpoint,
)
from safetensors.numpy import load_file

from edge_reason import Engine
from edge_reason.cli.distill import distill as distill_command

KD_STEPS = 40


def settings(teacher_dir: Path, student_config: Path, out: Path, **changes) -> DistillSettings:
    base = DistillSettings(
        teacher=teacher_dir,
        student=student_config,
        data=Path(__file__).resolve().parents[2]
        / ".."
        / "shared"
        / "data"
        / "babi"
        / "train"
        / "qa1_single-supporting-fact_train.txt",
        out=out,
        steps=KD_STEPS,
        batch_size=8,
        seq_len=32,
        lr=1e-2,
        checkpoint_every=1000,
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def distilled(teacher_dir, student_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("distilled") / "student"
    return distill(settings(teacher_dir, student_config, out), show_progress=False)


def test_kd_loss_falls(distilled) -> None:
    kd = np.array([m.kd for m in distilled.history])
    assert len(kd) == KD_STEPS
    first, last = kd[:5].mean(), kd[-5:].mean()
    # Measured: 6.4 -> 1.8 nats (x0.28). Five-step means vary by a few percent
    # between batches, so halving is far beyond noise yet leaves room for other
    # library versions; a student that does not learn stays near x1.
    assert last < 0.5 * first, (first, last)


def test_student_folder_loads_in_the_engine(distilled, teacher_dir) -> None:
    out = distilled.out
    for name in ("config.json", "model.safetensors", "tokenizer.json", PROVENANCE):
        assert (out / name).is_file(), name
    assert (out / "tokenizer.json").read_bytes() == (teacher_dir / "tokenizer.json").read_bytes()
    provenance = json.loads((out / PROVENANCE).read_text())
    assert provenance["teacher"]["path"] == str(teacher_dir)

    engine = Engine.load(out, quant="f32", threads=1)
    ids = engine.encode("1 Mary moved to the bathroom . 2 Where is Mary ?")
    got = engine.logits(ids)
    reference = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        want = reference(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(got - want).max() <= 1e-4 * want.std()


def test_resume_after_interruption_equals_an_uninterrupted_run(
    teacher_dir, student_config, tmp_path
) -> None:
    def run(out: Path, **changes) -> DistillSettings:
        return settings(teacher_dir, student_config, out, steps=8, checkpoint_every=2, **changes)

    straight = distill(run(tmp_path / "straight"), show_progress=False)

    def interrupt(metrics: StepMetrics) -> None:
        if metrics.step == 5:  # after the checkpoint at step 4: step 5 must be replayed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distill(run(tmp_path / "resumed"), on_step=interrupt, show_progress=False)
    assert latest_checkpoint(tmp_path / "resumed").name == "step-00000004"
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    resumed = distill(run(tmp_path / "resumed", resume=True), show_progress=False)

    assert resumed.resumed_from == 4
    assert [m.kd for m in resumed.history] == [m.kd for m in straight.history]
    want = load_file(str(tmp_path / "straight" / "model.safetensors"))
    got = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert want.keys() == got.keys()
    for name in want:  # same seed, same CPU arithmetic: identical to the bit
        assert np.array_equal(want[name], got[name]), name


def test_sequence_level_trains_on_teacher_traces(teacher_dir, student_config, tmp_path) -> None:
    data = tmp_path / "prompts.jsonl"
    questions = [
        "1 Mary moved to the bathroom . 2 Where is Mary ?",
        "1 John went to the garden . 2 Where is John ?",
    ]
    data.write_text("".join(json.dumps({"question": q, "answer": "x"}) + "\n" for q in questions))
    out = tmp_path / "out"
    result = distill(
        settings(
            teacher_dir,
            student_config,
            out,
            data=data,
            sequence_level=True,
            steps=2,
            batch_size=1,
            seq_len=8,
        ),
        show_progress=False,
    )
    assert result.history[-1].step == 2
    traces = [json.loads(line) for line in (out / TEACHER_TRACES).read_text().splitlines()]
    reference = transformers.AutoModelForCausalLM.from_pretrained(teacher_dir)
    tokenizer = Engine.load(out, threads=1).tokenizer
    for question, trace in zip(questions, traces, strict=True):
        prompt = tokenizer.encode(question).ids
        greedy = reference.generate(
            torch.tensor([prompt]), max_new_tokens=8, do_sample=False, pad_token_id=0
        )[0].tolist()
        assert trace["token_ids"] == [t for t in greedy if t != 0][: len(trace["token_ids"])]
        assert len(trace["token_ids"]) > len(prompt)


def test_cli_prints_one_json_summary(teacher_dir, student_config, tmp_path) -> None:
    args = [
        "--teacher", str(teacher_dir), "--student", str(student_config),
        "--data", str(settings(teacher_dir, student_config, tmp_path).data),
        "--out", str(tmp_path / "out"), "--steps", "3", "--batch-size", "2",
        "--seq-len", "16", "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(distill_command, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and summary["out"] == str(tmp_path / "out")


# ---- bad input ---------------------------------------------------------------------


def test_vocab_mismatch_is_refused(teacher_dir, student_config, tmp_path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(json.loads(student_config.read_text()) | {"vocab_size": 500}))
    with pytest.raises(ValueError, match=r"wrong\.json: vocab_size 500 differs from the teacher"):
        distill(settings(teacher_dir, wrong, tmp_path / "out"), show_progress=False)


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("missing.txt", None, FileNotFoundError, r"missing\.txt: the data file does not exist"),
        ("empty.txt", "\n \n", ValueError, r"empty\.txt: the data file has no traces"),
        ("bad.jsonl", '{"text": "a"}\n{"text": \n', ValueError, r"bad\.jsonl:2: invalid JSON"),
        ("odd.jsonl", '{"answer": "4"}\n', ValueError, r"odd\.jsonl:1: needs a 'text' field"),
    ],
)
def test_bad_data_file_is_named(
    teacher_dir, student_config, tmp_path, name, content, error, message
) -> None:
    data = tmp_path / name
    if content is not None:
        data.write_text(content)
    with pytest.raises(error, match=message):
        distill(
            settings(teacher_dir, student_config, tmp_path / "out", data=data), show_progress=False
        )


def test_a_failed_run_leaves_no_output_folder_behind(teacher_dir, student_config, tmp_path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(json.loads(student_config.read_text()) | {"vocab_size": 500}))
    out = tmp_path / "new" / "out"
    args = [
        "--teacher", str(teacher_dir), "--student", str(wrong),
        "--data", str(settings(teacher_dir, student_config, tmp_path).data),
        "--out", str(out), "--steps", "3",
    ]  # fmt: skip
    result = CliRunner().invoke(distill_command, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "vocab_size 500 differs from the teacher" in result.output
    assert not (tmp_path / "new").exists()  # both folders it made are gone
    existing = tmp_path / "existing"
    existing.mkdir()
    args[args.index(str(out))] = str(existing)
    assert CliRunner().invoke(distill_command, args).exit_code == 1
    assert existing.is_dir()  # an empty folder given by the user stays


def test_non_empty_out_needs_resume(teacher_dir, student_config, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="pass --resume"):
        distill(settings(teacher_dir, student_config, tmp_path), show_progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_resume_needs_a_checkpoint(teacher_dir, student_config, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        distill(settings(teacher_dir, student_config, tmp_path, resume=True), show_progress=False)


def test_resume_with_other_settings_is_refused(teacher_dir, student_config, tmp_path) -> None:
    out = tmp_path / "out"
    distill(
        settings(teacher_dir, student_config, out, steps=2, checkpoint_every=1), show_progress=False
    )
    with pytest.raises(ValueError, match=r"different settings \(lr: 0\.01 -> 0\.001\)"):
        distill(
            settings(teacher_dir, student_config, out, steps=2, lr=1e-3, resume=True),
            show_progress=False,
        )
