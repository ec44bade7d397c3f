"""`edge-reason rules`: list, check and evaluate rule packs (the model-free fallbacks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import json_flag
from .question import not_blank

if TYPE_CHECKING:
    from edge_reason.heuristics import RulePack


def _open_pack(spec: str) -> RulePack:
    """A pack from a file path or a built-in name; errors become click errors with file:line."""
    from edge_reason.heuristics import RuleError, RulePack, load_builtin

    try:
        return RulePack.load(spec) if Path(spec).exists() else load_builtin(spec)
    except RuleError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def rules() -> None:
    """List, check and evaluate rule packs."""


@rules.command("list")
@json_flag()
def list_packs(as_json: bool) -> None:
    """List the built-in rule packs."""
    from edge_reason.heuristics import builtin_names, load_builtin

    packs = [load_builtin(name) for name in builtin_names()]
    rows = [
        {
            "name": pack.name,
            "description": pack.description,
            "rules": len(pack.spec.rules),
            "questions": len(pack.spec.questions),
            "examples": len(pack.spec.examples),
        }
        for pack in packs
    ]
    if as_json:
        click.echo(json.dumps({"packs": rows}))
        return
    for row in rows:
        click.echo(f"{row['name']:<12} {row['description']}")


@rules.command("check")
@click.argument("pack_file")
@json_flag()
def check(pack_file: str, as_json: bool) -> None:
    """Validate PACK_FILE (a path or a built-in name) and run its examples."""
    pack = _open_pack(pack_file)
    results = pack.run_examples()
    failed = [result for result in results if not result.passed]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "pack": pack.name,
                    "file": pack.spec.file,
                    "examples": len(results),
                    "failed": len(failed),
                    "failures": [
                        {"line": r.line, "example": r.description, "expected": r.expected,
                         "got": r.got}
                        for r in failed
                    ],
                }
            )
        )  # fmt: skip
    else:
        for result in results:
            mark = "ok  " if result.passed else "FAIL"
            click.echo(f"{mark} line {result.line}: {result.description} -> {result.got}")
            if not result.passed:
                click.echo(f"     expected: {result.expected}")
        click.echo(f"{pack.name}: {len(results) - len(failed)}/{len(results)} examples pass")
    if failed:
        raise SystemExit(1)


def _parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--input")
        inputs[name.strip()] = value.strip()
    return inputs


@rules.command("eval")
@click.argument("pack")
@click.option("--input", "-i", "pairs", multiple=True, metavar="KEY=VALUE", help="An input.")
@click.option("--fact", "facts", multiple=True, metavar="NAME", help="A given fact (flag).")
@click.option(
    "--question", "-q", callback=not_blank, help="Ask a text question instead of deciding outputs."
)
@click.option("--story", type=click.Path(exists=True, dir_okay=False), help="Story file.")
@json_flag()
def eval_pack(
    pack: str,
    pairs: tuple[str, ...],
    facts: tuple[str, ...],
    question: str | None,
    story: str | None,
    as_json: bool,
) -> None:
    """Evaluate PACK (a path or a built-in name) on inputs, or answer a --question."""
    from edge_reason.heuristics import RuleError

    rule_pack = _open_pack(pack)
    try:
        if question is not None:
            context = Path(story).read_text(encoding="utf-8") if story else None
            _show_answer(rule_pack, question, context, as_json)
        else:
            _show_evaluation(rule_pack, _parse_pairs(pairs), facts, as_json)
    except RuleError as error:
        raise click.ClickException(str(error)) from None


def _show_answer(pack: RulePack, question: str, context: str | None, as_json: bool) -> None:
    answer = pack.answer_question(question, context)
    if as_json:
        document = None if answer is None else {
            "answer": answer.answer, "rule": answer.rule_id, "priority": answer.priority,
            "trace": list(answer.trace), "sources": list(answer.sources),
        }  # fmt: skip
        click.echo(json.dumps({"pack": pack.name, "question": question, "result": document}))
        return
    if answer is None:
        click.echo(f"{pack.name} cannot answer: {question}")
        raise SystemExit(1)
    for step in answer.trace:
        click.echo(f"  {step}")
    click.echo(f"answer: {answer.answer}  (question rule {answer.rule_id})")


def _show_evaluation(
    pack: RulePack, inputs: dict[str, str], facts: tuple[str, ...], as_json: bool
) -> None:
    evaluation = pack.evaluate(inputs, facts)
    if as_json:
        decisions = {
            output: {"answer": c.answer, "rule": c.rule_id, "priority": c.priority,
                     "trace": list(c.trace)}
            for output, c in evaluation.decisions.items()
        }  # fmt: skip
        click.echo(
            json.dumps({"pack": pack.name, "decisions": decisions, "facts": list(evaluation.facts)})
        )
        return
    for output, conclusion in evaluation.decisions.items():
        click.echo(f"{output} = {conclusion.answer}  (rule {conclusion.rule_id})")
        for step in conclusion.trace:
            click.echo(f"    {step}")
