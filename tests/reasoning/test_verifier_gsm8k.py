"""The verifier on every real GSM8K training solution, and on corrupted copies."""

from __future__ import annotations

import random
import re

from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.arithmetic import format_number, parse_number
from edge_reason.reasoning.datasets import Problem
from edge_reason.reasoning.verifier import (
    Chain,
    Verifier,
    annotation_findings,
    check_arithmetic,
)

# Measured on train.jsonl: 7,473 solutions carry 23,716 calculator annotations, and every one
# recomputes exactly (with unary plus, as in "+30+46+38+11+18=143", and floor division in
# "560//10=56"); the number written after each ">>" agrees with it as well. No GSM8K
# annotation needs rounding, so the known count of wrong annotations is zero.
SOLUTIONS = 7473
ANNOTATED_STEPS = 23716
KNOWN_WRONG_ANNOTATIONS: list[str] = []


def test_every_annotated_step_of_gsm8k_train_recomputes(gsm8k_problems: list[Problem]) -> None:
    problems = gsm8k_problems
    findings = [(p.where, f) for p in problems for f in annotation_findings(p.solution or "")]
    failed = [f"{where}: {f.detail}" for where, f in findings if not f.ok]
    assert len(problems) == SOLUTIONS
    assert len(findings) == ANNOTATED_STEPS
    assert failed == KNOWN_WRONG_ANNOTATIONS


def test_corrupted_annotations_are_caught(gsm8k_problems: list[Problem]) -> None:
    problems = gsm8k_problems
    rng = random.Random(4)
    chosen = rng.sample([p for p in problems if "<<" in (p.solution or "")], 300)
    for problem in chosen:
        solution = problem.solution or ""
        annotations = list(re.finditer(r"<<([^=<>]*)=([^<>]*)>>", solution))
        target = rng.choice(annotations)
        wrong = format_number(parse_number(target.group(2)) + rng.choice([1, -1, 10]))
        corrupted = solution[: target.start(2)] + wrong + solution[target.end(2) :]
        failed = [f for f in annotation_findings(corrupted) if not f.ok]
        assert len(failed) == 1, problem.where
        assert failed[0].span[0] == target.start(2)
        assert failed[0].repair is not None
        assert failed[0].repair.endswith(">>")


def test_a_carried_number_that_disagrees_with_its_annotation_is_caught() -> None:
    findings = annotation_findings("Natalia sold 48/2 = <<48/2=24>>25 clips in May.")
    assert [f.ok for f in findings] == [False]
    assert "carries 25" in findings[0].detail


def test_plain_equations_catch_a_real_gsm8k_slip(gsm8k_problems: list[Problem]) -> None:
    # Line 168 of train.jsonl ends "So it cost 192*100=$1920" outside any annotation.
    problem = gsm8k_problems[167]
    failed = [f for f in check_arithmetic(Chain(problem.solution or "")) if not f.ok]
    assert [f.detail for f in failed] == ["192*100 = 19200, not $1920"]


def test_plain_equations_are_read_as_people_write_them() -> None:
    verifier = Verifier([check_arithmetic])
    chain = (
        "She earned 0.2 x 50 = $10.\n"
        "A quarter is 1/2 * 1/2 = 1/4 of it.\n"
        "He works M + 4 + 2 = 8 hours.\n"  # a variable: not checkable
        "Then 40% + 20% = 60% are gone.\n"
        "Total 1,200 + 300 = 1,500 apples.\n"
        "So 12 x 2 = 25.\n"
    )
    statuses = [s.status for s in verifier.verify(chain).steps]
    assert statuses == [
        StepStatus.VERIFIED,
        StepStatus.VERIFIED,
        StepStatus.UNCHECKED,
        StepStatus.VERIFIED,
        StepStatus.VERIFIED,
        StepStatus.FAILED,
    ]
