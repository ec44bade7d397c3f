"""`edge-reason ask | verify | eval | index`: the reasoning layer from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge_reason.reasoning.document_files import MAX_DOCUMENT_BYTES
from edge_reason.reasoning.policy import MAX_SAMPLES

from .errors import require_matplotlib
from .options import budget_option, json_flag
from .question import not_blank

if TYPE_CHECKING:
    from edge_reason.engine import Engine
    from edge_reason.reasoning.answer import Answer
    from edge_reason.reasoning.evaluation import EvalReport

STRATEGY_NAMES = ("direct", "cot", "self_consistency", "auto")
QUANTS = ("f32", "int8", "int4")
# A GGUF's weights are quantized already (Q4_1 for SmolLM2): requantizing them to int8 adds a
# second rounding that, measured, turns SmolLM2's note answers into rambling. f32 keeps the
# file's exact values.
GGUF_QUANT = "f32"
MAX_DOCUMENT_MB = MAX_DOCUMENT_BYTES // 2**20


def _load_engine(model: str | None, quant: str | None) -> Engine | None:
    if model is None:
        if quant is not None:
            raise click.UsageError("--quant needs --model (the shipped model is an INT4 bundle)")
        from edge_reason.default_model import load_default_engine

        return load_default_engine()
    from edge_reason.engine import Engine
    from edge_reason.errors import EdgeReasonError

    if quant is None and Path(model).suffix == ".gguf":
        quant = GGUF_QUANT
    try:
        return Engine.load(model, quant=quant)
    except (EdgeReasonError, OSError, ValueError) as error:
        raise click.ClickException(f"cannot load {model}: {error}") from None


def _print_answer(answer: Answer) -> None:
    for step in answer.steps:
        detail = f"   ({step.detail})" if step.detail else ""
        click.echo(f"{step.mark} {step.text}{detail}")
    click.echo(f"answer: {answer.answer if answer.answer is not None else '(none)'}")
    # said plainly: an answer the verifier did not vouch for must not read as a checked one
    click.echo("verified" if answer.verified else f"not verified: {answer.not_verified}")
    strategy = f", {answer.strategy}" if answer.strategy else ""
    calibrated = " (calibrated)" if answer.confidence_calibrated else ""
    click.echo(
        f"confidence: {answer.confidence:.2f}{calibrated}   source: {answer.source}{strategy}"
    )
    click.echo(f"reason: {answer.reason}")
    for citation in answer.citations:
        mark = f"{citation.mark} " if citation.supported is not None else ""
        text = " ".join(citation.text.split())  # one line per citation
        where = f"{citation.ref} ({citation.lines})" if citation.lines else citation.ref
        click.echo(f"cites {mark}{citation.source} {where}: {text[:100]}")


# --samples of ask and evaluate
_SAMPLES = click.option(
    "--samples",
    type=click.IntRange(min=1, max=MAX_SAMPLES),
    default=5,
    show_default=True,
    help=f"Chains for self-consistency (at most {MAX_SAMPLES}).",
)


@click.command()
@click.argument("question", callback=not_blank)
@click.option(
    "--model",
    type=click.Path(exists=True),
    help="Model folder or .gguf file (default: the bAbI-and-addition model shipped in the "
    "package).",
)
@click.option(
    "--quant",
    type=click.Choice(QUANTS),
    help=f"How to hold the weights (a .gguf file: {GGUF_QUANT}, its exact values).",
)
@click.option("--rules", "packs", multiple=True, help="Rule pack file or built-in name.")
@click.option("--db", type=click.Path(exists=True, dir_okay=False), help="Document store.")
@click.option(
    "--search",
    "search_mode",
    type=click.Choice(["hybrid", "keyword", "vector"]),
    help="How --db is searched (default: hybrid for a store indexed with --embed, keyword "
    "otherwise; keyword needs no embedding model).",
)
@click.option(
    "--context",
    "context_file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Story or text file, UTF-8 ('-': stdin).",
)
@click.option("--strategy", type=click.Choice(STRATEGY_NAMES), default="auto", show_default=True)
@_SAMPLES
@budget_option
@click.option("--no-model", is_flag=True, help="Answer from rules and tools only.")
@click.option(
    "--tool-choice",
    type=click.Choice(["auto", "required", "none"]),
    default=None,
    help="A chat model's tools (calculator, unit conversion, search_notes with --db): it may "
    "call them, must call one first, or is not offered them. Default: auto for a model whose "
    "chat template shows it tools, none otherwise.",
)
@json_flag()
def ask(
    question: str,
    model: str | None,
    quant: str | None,
    packs: tuple[str, ...],
    db: str | None,
    search_mode: str | None,
    context_file: str | None,
    strategy: str,
    samples: int,
    budget_ms: float | None,
    no_model: bool,
    tool_choice: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION with checked reasoning, or from rules and tools."""
    from edge_reason.errors import EdgeReasonError
    from edge_reason.reasoning.chat_prompts import is_chat_model
    from edge_reason.reasoning.reasoner import Reasoner
    from edge_reason.reasoning.retrieval import DocumentStore

    if search_mode and not db:
        raise click.UsageError("--search is how --db is searched: give --db")
    if no_model and model:
        raise click.UsageError("--no-model and --model exclude each other")
    if no_model and tool_choice is not None:
        raise click.UsageError(
            "--tool-choice is how a chat model is offered tools: not with --no-model"
        )
    context = _read_story(context_file) if context_file else None
    engine = None if no_model else _load_engine(model, quant)
    if tool_choice is not None and not is_chat_model(engine):
        # said, not ignored: such a model is asked in its own prompt formats, without tools
        click.echo(
            "warning: --tool-choice applies to a chat model, and this one has no chat template "
            "or declares its own prompt formats: it is asked as before",
            err=True,
        )
    try:
        reasoner = Reasoner(
            engine,
            rules=list(packs) or None,
            retriever=DocumentStore(db, mode=search_mode) if db else None,
            tool_choice=tool_choice,
        )
        answer = reasoner.ask(
            question,
            context=context,
            strategy=strategy,
            samples=samples,
            budget_ms=budget_ms,
        )
    except EdgeReasonError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(answer.to_dict()))
    else:
        _print_answer(answer)


def _read_story(path: str) -> str:
    """The text of --context: a regular file (a FIFO would block, /dev/zero never ends) or
    stdin, of at most MAX_DOCUMENT_BYTES, in UTF-8."""
    from edge_reason.reasoning.text_files import (
        UnreadableFile,
        read_text_bytes,
        read_text_stream,
    )

    where = "standard input" if path == "-" else path
    try:
        if path == "-":
            data = read_text_stream(click.get_binary_stream("stdin"), MAX_DOCUMENT_BYTES)
        else:
            data = read_text_bytes(Path(path), MAX_DOCUMENT_BYTES)
        return data.decode("utf-8-sig")
    except UnreadableFile as error:
        raise click.ClickException(f"--context {where}: {error}") from None
    except UnicodeDecodeError as error:
        byte = error.object[error.start]
        raise click.ClickException(
            f"--context {where}: not UTF-8 text (byte {error.start + 1} is {byte:#04x})"
        ) from None


@click.command()
@click.argument("data_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format", "data_format", type=click.Choice(["gsm8k"]), default="gsm8k", show_default=True
)
@json_flag()
def verify(data_file: str, data_format: str, as_json: bool) -> None:
    """Recompute every annotated step (<<48/2=24>>) of every solution in DATA_FILE.

    Exits with status 1 when a step fails.
    """
    from edge_reason.reasoning.datasets import read_gsm8k
    from edge_reason.reasoning.errors import ReasoningError
    from edge_reason.reasoning.verifier import annotation_findings

    try:
        problems = read_gsm8k(data_file)
    except ReasoningError as error:
        raise click.ClickException(str(error)) from None
    steps, failures = 0, []
    for problem in problems:
        findings = annotation_findings(problem.solution or "")
        steps += len(findings)
        failures += [{"where": problem.where, "step": f.detail} for f in findings if not f.ok]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "solutions": len(problems),
                    "steps": steps,
                    "failed": len(failures),
                    "failures": failures,
                }
            )
        )
    else:
        for failure in failures:
            click.echo(f"✗ {failure['where']}: {failure['step']}")
        click.echo(f"{len(problems)} solutions, {steps} steps checked, {len(failures)} failed")
    if failures:
        sys.exit(1)


@click.command("eval")
@click.option("--model", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--quant", type=click.Choice(QUANTS), help="How to hold the weights.")
@click.option("--data", "data_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format", "data_format", required=True, type=click.Choice(["babi", "gsm8k", "jsonl"])
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    type=click.Choice(STRATEGY_NAMES),
    help="Repeat to compare strategies side by side (default: auto).",
)
@_SAMPLES
@click.option("--limit", type=click.IntRange(min=1), help="Use the first N problems only.")
@budget_option
@click.option("--no-rules", is_flag=True, help="No rule fallback: score the model alone.")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw a reliability diagram per strategy into this PNG (needs matplotlib).",
)
@click.option(
    "--fit-calibration",
    "calibration_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fit a confidence calibrator per strategy to these answers and write it to this "
    'JSON file (a bundle carries it in bundle.json as "confidence_calibration").',
)
@click.option(
    "--uncalibrated",
    is_flag=True,
    help="Ignore the model's confidence calibration (to fit a new one, or compare).",
)
@json_flag()
def evaluate(
    model: str,
    quant: str | None,
    data_file: str,
    data_format: str,
    strategies: tuple[str, ...],
    samples: int,
    limit: int | None,
    budget_ms: float | None,
    no_rules: bool,
    plot_file: Path | None,
    calibration_file: Path | None,
    uncalibrated: bool,
    as_json: bool,
) -> None:
    """Score a model's answers on a data set, per strategy.

    "verified" is the share of answers that came from a model chain whose every step was
    checked and holds; answers from rules or tools are counted under "sources". "false-ver"
    (the false-verified rate) is the share of wrong answers, from any source, marked verified.
    "ECE" is the expected calibration error of the confidences (10 equal-width bins); "cal"
    says whether they were calibrated by the model's calibration.
    """
    from edge_reason.errors import EdgeReasonError
    from edge_reason.reasoning.datasets import read_problems
    from edge_reason.reasoning.errors import ReasoningError
    from edge_reason.reasoning.evaluation import EvalReport, evaluate_reasoner
    from edge_reason.reasoning.reasoner import Reasoner

    try:
        problems = read_problems(data_file, data_format)[:limit]
    except ReasoningError as error:
        raise click.ClickException(str(error)) from None
    if plot_file is not None:
        require_matplotlib()
    reasoner = Reasoner(_load_engine(model, quant), rules=[] if no_rules else None)
    if uncalibrated:
        reasoner.calibrator = None
    reports: dict[str, EvalReport] = {}
    try:
        for strategy in dict.fromkeys(strategies or ("auto",)):
            reports[strategy] = EvalReport(strategy)
            with click.progressbar(
                length=len(problems), label=strategy, file=sys.stderr, hidden=as_json
            ) as bar:
                evaluate_reasoner(
                    reasoner,
                    problems,
                    strategy=strategy,
                    samples=samples,
                    budget_ms=budget_ms,
                    on_answer=lambda bar=bar: bar.update(1),
                    report=reports[strategy],
                )
    except (KeyboardInterrupt, EdgeReasonError, ValueError) as error:
        # the answers scored so far are printed, not lost with the run
        _print_reports(reports, as_json)
        why = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        raise click.ClickException(
            f"stopped before the end ({why}): the scores are of the problems answered"
        ) from None
    _print_reports(reports, as_json)
    if plot_file is not None:
        from edge_reason.reasoning.evaluation import plot_reliability

        try:
            plot_reliability(reports, plot_file)
        except OSError as error:
            raise click.ClickException(f"{plot_file}: cannot write the plot ({error})") from None
    if calibration_file is not None:
        _write_calibration(reports, calibration_file)


def _write_calibration(reports: dict[str, EvalReport], path: Path) -> None:
    from edge_reason.reasoning.calibration import MANIFEST_KEY
    from edge_reason.reasoning.evaluation import fit_calibrator

    calibrator = fit_calibrator(reports)
    if not calibrator.strategies:
        raise click.ClickException(
            f"{path}: not written: no answers of a named strategy to fit (auto is not fitted)"
        )
    try:
        path.write_text(json.dumps({MANIFEST_KEY: calibrator.to_manifest()}, indent=1) + "\n")
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write the calibration ({error})") from None


def _print_reports(reports: dict[str, EvalReport], as_json: bool) -> None:
    scores = {name: report.to_dict() for name, report in reports.items()}
    if as_json:
        first = next(iter(scores.values()))
        click.echo(json.dumps({**first, "by_strategy": scores}))
    else:
        _print_table(scores)


def _print_table(reports: dict[str, dict[str, Any]]) -> None:
    header = f"{'strategy':<18}{'accuracy':>10}{'95% interval':>18}{'n':>6}"
    click.echo(
        header + f"{'verified':>10}{'false-ver':>11}{'ECE':>7}{'cal':>5}{'ms/answer':>11}"
        f"{'tokens':>8}"
    )
    for name, r in reports.items():
        low, high = r["interval_95"]
        calibrated = "yes" if r["confidence_calibrated"] else "no"
        click.echo(
            f"{name:<18}{r['accuracy']:>10.3f}{f'[{low:.3f}, {high:.3f}]':>18}{r['n']:>6}"
            f"{r['verified_share']:>10.3f}{r['false_verified_rate']:>11.3f}{r['ece']:>7.3f}"
            f"{calibrated:>5}{r['mean_latency_ms']:>11.1f}{r['mean_tokens']:>8.1f}"
        )
    for name, r in reports.items():
        if len(r["per_task"]) > 1 or "all" not in r["per_task"]:
            tasks = ", ".join(
                f"{t} {v['accuracy']:.3f} (false-verified {v['false_verified_rate']:.3f})"
                for t, v in r["per_task"].items()
            )
            click.echo(f"{name} per task: {tasks}")
        if r["skipped_too_long"]:
            where = ", ".join(r["skipped_too_long"])
            click.echo(
                f"{name}: skipped {len(r['skipped_too_long'])} problems longer than the "
                f"model's context ({where})"
            )


@click.command()
@click.argument("docs_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file.")
@click.option(
    "--embed",
    "embed_model",
    type=click.Path(),
    help="Text encoder folder (all-MiniLM-L6-v2): store each passage's vector too, for "
    "hybrid search. A store indexed with one keeps using it.",
)
@click.option(
    "--max-file-mb",
    type=click.IntRange(min=1),
    default=MAX_DOCUMENT_MB,
    show_default=True,
    help="Skip documents larger than this.",
)
@json_flag()
def index(docs_dir: str, db: str, embed_model: str | None, max_file_mb: int, as_json: bool) -> None:
    """Index the .md and .txt files under DOCS_DIR into the document store DB.

    Only files whose text changed since the last index are indexed again, and the passages
    of files gone from DOCS_DIR are dropped. Only regular files inside DOCS_DIR are read;
    links out of it, FIFOs, devices, binary and oversized files are skipped with the reason.
    Bytes that are not UTF-8 are read as U+FFFD.
    """
    from edge_reason.reasoning.embedding_model import load_embedding_model
    from edge_reason.reasoning.errors import ReasoningError
    from edge_reason.reasoning.retrieval import DocumentStore

    try:
        embedding = load_embedding_model(embed_model) if embed_model else None
        with DocumentStore(db, embedding=embedding) as store:
            report = store.index_folder(docs_dir, max_bytes=max_file_mb * 2**20)
            total = len(store)
            model = store.embedding_model
    except ReasoningError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        skipped = [{"file": s.name, "reason": s.reason} for s in report.skipped]
        click.echo(
            json.dumps(
                {
                    "db": store.name,
                    "added": report.passages,
                    "passages": total,
                    "files": report.files,
                    "unchanged": report.unchanged,
                    "removed": report.removed,
                    "embedded": report.embedded,
                    "embedding_model": model,
                    "skipped": skipped,
                    "replaced": report.replaced,
                }
            )
        )
        return
    vectors = f"; vectors by {model['name']}, dim {model['dim']}" if model else ""
    click.echo(
        f"indexed {report.passages} passages from {report.files} files under {docs_dir} "
        f"into {store.name} ({total} in total; {report.unchanged} files unchanged{vectors})"
    )
    for name in report.removed:
        click.echo(f"removed {name}: no longer indexed")
    for skipped in report.skipped:
        click.echo(f"skipped {skipped.name}: {skipped.reason}")
    for name in report.replaced:
        click.echo(f"read {name} with U+FFFD for bytes that are not UTF-8")
