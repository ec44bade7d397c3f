"""The validation report: every model through the Reasoner, as a user would ask it.

Each model (teacher f32, student f32, student INT4 bundle) runs on the engine with
``Reasoner(engine, rules=[], tools=<none>)`` in the formats the bundle declares, so every
answer is the model's own: no rule pack or calculator can step in when the verifier rejects a
chain (the model draws a new one, up to the recipe's ``max_revisions`` times, and the bundle
declares that policy). Scoring is the reasoning
layer's ``evaluate_reasoner``; this module picks the questions and condenses the reports:
per-task error and tasks passed for bAbI, accuracy by number of digits for addition
(including one digit more than training saw), the share of bAbI answers whose cited facts
all verify, and the median latency of one bAbI chain-of-thought answer.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_reason.reasoning.datasets import Problem, read_problems

from .addition import longer_additions
from .documents import addition_problem, trained_formats
from .settings import EvaluationSettings
from .validation import PASS_ERROR

STRATEGIES = ("direct", "cot", "self_consistency")


def evaluate_models(
    models: dict[str, Path],
    problems_file: Path,
    settings: EvaluationSettings,
    *,
    training_digits: Sequence[int],
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate each model folder on the validation questions; return the JSON report."""
    problems = read_problems(problems_file, "jsonl")
    babi = _first_per_task([p for p in problems if p.context], settings.questions_per_task)
    additions = _first_per_task(
        [p for p in problems if not p.context], settings.additions_per_length
    )
    longer = max(training_digits) + 1
    count = settings.additions_per_length or max(_tasks(additions).values())
    additions += [addition_problem(a) for a in longer_additions(longer, count, settings.seed)]
    results = {
        name: _evaluate_model(name, path, babi, additions, settings, progress)
        for name, path in models.items()
    }
    return {
        "validation_questions": {"babi": _tasks(babi), "addition": _tasks(additions)},
        "training_digits": list(training_digits),
        "pass_error": PASS_ERROR,
        "threads": settings.threads,
        "max_revisions": settings.max_revisions,
        "models": results,
        "summary": {
            name: {
                strategy: {
                    "babi_tasks_passed": r["strategies"][strategy]["babi"]["tasks_passed"],
                    "addition_accuracy": r["strategies"][strategy]["addition"]["by_digits"],
                }
                for strategy in STRATEGIES
            }
            | {"median_cot_latency_ms": r["median_cot_latency_ms"]}
            for name, r in results.items()
        },
    }


def _evaluate_model(
    name: str,
    path: Path,
    babi: list[Problem],
    additions: list[Problem],
    settings: EvaluationSettings,
    progress: bool,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from edge_reason.engine import Engine
    from edge_reason.reasoning.evaluation import (
        EvalReport,
        calibrated_ece,
        evaluate_reasoner,
        fit_calibrator,
        pooled_answers,
    )
    from edge_reason.reasoning.policy import Policy
    from edge_reason.reasoning.reasoner import Reasoner
    from edge_reason.reasoning.tools import ToolRegistry

    context = _max_positions(path)
    engine = Engine.load(path, threads=settings.threads, max_context=context)
    policy = Policy(max_revisions=settings.max_revisions)
    reasoner = Reasoner(engine, rules=[], tools=ToolRegistry(), policy=policy)
    # the f32 models carry no declared formats: ask every model as the bundle will be asked
    reasoner.formats.update(trained_formats())
    reasoner.model_families = frozenset(trained_formats())
    strategies, fit, held = {}, {}, {}
    for strategy in STRATEGIES:
        reports = {}
        for family, problems in (("babi", babi), ("addition", additions)):
            report, scored = EvalReport(strategy), []
            with tqdm(
                total=len(problems), desc=f"{name} {strategy} {family}", disable=not progress
            ) as bar:
                for half in _halves(problems):
                    evaluate_reasoner(
                        reasoner,
                        half,
                        strategy=strategy,
                        samples=settings.self_consistency_samples,
                        on_answer=lambda: bar.update(1),
                        report=report,
                    )
                    scored.append(len(report.outcomes))
            reports[family] = (report, scored[0])
        fit[strategy] = pooled_answers(strategy, ((r, slice(n)) for r, n in reports.values()))
        held[strategy] = pooled_answers(
            strategy, ((r, slice(n, None)) for r, n in reports.values())
        )
        parts = {family: report.to_dict() for family, (report, _) in reports.items()}
        strategies[strategy] = {
            "babi": _babi_summary(parts["babi"]),
            "addition": _addition_summary(parts["addition"]),
            "reports": parts,
        }
    calibrator = fit_calibrator(fit)
    latencies = [
        reasoner.ask(p.question, context=p.context, strategy="cot").latency_ms
        for p in babi[: settings.latency_questions]
    ]
    return {
        "path": str(path),
        "engine": engine.info(),
        "strategies": strategies,
        "median_cot_latency_ms": statistics.median(latencies) if latencies else None,
        # fitted on the first half of each task's questions, checked on the second
        "confidence_calibration": {
            "fitted_answers": {s: r.n for s, r in fit.items()},
            "held_out_answers": {s: r.n for s, r in held.items()},
            "held_out_ece": {
                s: {"uncalibrated": r.ece, "calibrated": calibrated_ece(r, calibrator)}
                for s, r in held.items()
            },
            "manifest": calibrator.to_manifest(),
        },
    }


def best_strategy(report: dict[str, Any], model: str) -> str:
    """The strategy with which ``model`` passed the most bAbI tasks in an evaluation report
    (ties: the lower mean error, then the cheaper strategy)."""
    strategies = report["models"][model]["strategies"]

    def rank(name: str) -> tuple[int, float, int]:  # STRATEGIES go cheapest first
        babi = strategies[name]["babi"]
        return (-babi["tasks_passed"], babi["mean_error"], STRATEGIES.index(name))

    return min(strategies, key=rank)


def _babi_summary(report: dict[str, Any]) -> dict[str, Any]:
    errors = {task: 1.0 - v["accuracy"] for task, v in report["per_task"].items()}
    return {
        "per_task_error": errors,
        "tasks_passed": sum(e < PASS_ERROR for e in errors.values()),
        "tasks": len(errors),
        "mean_error": statistics.fmean(errors.values()) if errors else None,
        # only the citation checker judges a bAbI chain: verified = its cited facts verify
        "cited_facts_verified_share": report["verified_share"],
    }


def _addition_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "by_digits": {
            task.removeprefix("add"): v["accuracy"] for task, v in report["per_task"].items()
        },
        "verified_share": report["verified_share"],
    }


def _first_per_task(problems: list[Problem], limit: int) -> list[Problem]:
    """The first ``limit`` problems of each task, in file order (0: all)."""
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for problem in problems:
        if not limit or taken[problem.task] < limit:
            taken[problem.task] += 1
            chosen.append(problem)
    return chosen


def _halves(problems: list[Problem]) -> tuple[list[Problem], list[Problem]]:
    """The first half of each task's problems (rounded up), and the rest, in file order."""
    counts = _tasks(problems)
    taken: dict[str, int] = defaultdict(int)
    first, second = [], []
    for problem in problems:
        taken[problem.task] += 1
        half = first if taken[problem.task] <= (counts[problem.task] + 1) // 2 else second
        half.append(problem)
    return first, second


def _tasks(problems: list[Problem]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for problem in problems:
        counts[problem.task] += 1
    return dict(counts)


def _max_positions(path: Path) -> int:
    """The KV cache the longest validation prompts need: the model's trained context (the
    engine's default is smaller than task 3's longest stories)."""
    from edge_reason.bundle import Bundle, is_bundle
    from edge_reason.model_config import ModelConfig

    config = Bundle.open(path).config if is_bundle(path) else ModelConfig.from_folder(path)
    return config.max_position_embeddings
