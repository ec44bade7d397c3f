"""The evaluation report as the Markdown tables docs/default-model.md shows, so that they are
printed from the report and never typed by hand."""

from __future__ import annotations

from typing import Any

from .evaluation import STRATEGIES


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def markdown_tables(report: dict[str, Any]) -> str:
    """Tasks passed, accuracy, verified citations and addition by digits for every model and
    strategy; per-task error of the INT4 student; median chain-of-thought latency."""
    lines = [
        "| model | strategy | bAbI tasks passed | mean bAbI accuracy | cited facts all verify "
        "| addition " + " / ".join(_digits(report)) + " digits |",
        "|---|---|---|---|---|---|",
    ]
    for name, model in report["models"].items():
        for strategy in STRATEGIES:
            babi = model["strategies"][strategy]["babi"]
            addition = model["strategies"][strategy]["addition"]["by_digits"]
            lines.append(
                f"| {name} | {strategy} | {babi['tasks_passed']}/{babi['tasks']} "
                f"| {_percent(1 - babi['mean_error'])} "
                f"| {_percent(babi['cited_facts_verified_share'])} | "
                + " / ".join(f"{100 * addition[d]:.0f}%" for d in _digits(report))
                + " |"
            )
    int4 = report["models"]["student_int4"]["strategies"]
    tasks = sorted(int4["direct"]["babi"]["per_task_error"], key=lambda t: int(t[2:]))
    lines += [
        "",
        "| task | " + " | ".join(t[2:] for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for strategy in STRATEGIES:
        errors = int4[strategy]["babi"]["per_task_error"]
        lines.append(f"| {strategy} | " + " | ".join(f"{errors[t]:.2f}" for t in tasks) + " |")
    latency = ", ".join(
        f"{name} {model['median_cot_latency_ms']:.1f}" for name, model in report["models"].items()
    )
    lines += ["", f"median CoT latency (ms): {latency}"]
    return "\n".join(lines) + "\n"


def _digits(report: dict[str, Any]) -> list[str]:
    first = next(iter(report["models"].values()))["strategies"]["direct"]["addition"]["by_digits"]
    return sorted(first, key=int)
