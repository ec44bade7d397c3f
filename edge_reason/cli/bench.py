"""`edge-reason bench`: token rates of the native engine and the runtimes people use today."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..bench import BACKENDS, MAX_BATCH, QUANTS, SCHEMA, SPECULATIVE
from .errors import require_matplotlib
from .progress import progress_bar

if TYPE_CHECKING:
    from ..bench.runner import Case


def _names(
    choices: tuple[str, ...],
) -> Callable[[click.Context, click.Parameter, str | None], list[str]]:
    """A click callback parsing a comma-separated list of `choices` ([] when not given)."""

    def parse(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
        if value is None:
            return []
        names = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise click.BadParameter(
                f"{value!r}: expected a comma-separated list of {', '.join(choices)}",
                param=param,
            )
        return list(dict.fromkeys(names))

    return parse


def _thread_counts(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if value is None:
        return []
    try:
        counts = [int(v) for v in value.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"{value!r}: expected positive integers like 1,2,4", param=param)
    return sorted(set(counts))


def _batch_sizes(_ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        sizes = [int(v) for v in value.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_BATCH:
        raise click.BadParameter(
            f"{value!r}: expected positive integers up to {MAX_BATCH} like 1,2,4,8", param=param
        )
    return sorted(set(sizes))


def _case(failed: dict[str, Any]) -> Case:
    """The case a report's `failed` entry describes."""
    from ..bench.runner import Case

    return Case(**{k: v for k, v in failed.items() if k != "reason"})


@click.command()
@click.argument("model", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--shape",
    help="Instead of MODEL, a random-weight model of this architecture built locally: "
    "smollm2-135m or qwen2.5-0.5b.",
)
@click.option(
    "--backends",
    default=",".join(BACKENDS),
    show_default=True,
    callback=_names(BACKENDS),
    help="Backends to measure; those not installed are listed as skipped.",
)
@click.option(
    "--quant",
    default=None,
    callback=_names(QUANTS),
    help="Comma-separated (default: int4,int8; for a GGUF file: file, its own types, which "
    "llama.cpp runs; the native engine also runs it as int8/int4/f32).",
)
@click.option(
    "--threads", default=None, callback=_thread_counts, help="e.g. 1,2,4 (default: physical cores)"
)
@click.option("--prompt-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--gen-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--batch",
    default="1",
    show_default=True,
    callback=_batch_sizes,
    help=f"Batch sizes (up to {MAX_BATCH}) at which the native engine also decodes that many "
    "distinct prompts together, e.g. 1,2,4,8,16; reported as aggregate tokens/s. Batch 1 is "
    "always measured; other backends run it only.",
)
@click.option(
    "--speculative",
    type=click.Choice(SPECULATIVE),
    default=None,
    help="Also measure the native engine with this speculative decoding (at batch 1).",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Write the report (schema {SCHEMA}) here; '-' prints it as the only thing on stdout.",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw tokens/s per backend with the roofline into this PNG (needs matplotlib); with "
    "several --batch sizes, also aggregate tokens/s against the batch size.",
)
def bench(
    model: Path | None,
    shape: str | None,
    backends: list[str],
    quant: list[str],
    threads: list[int],
    prompt_tokens: int,
    gen_tokens: int,
    repeats: int,
    batch: list[int],
    speculative: str | None,
    json_file: Path | None,
    plot_file: Path | None,
) -> None:
    """Measure prefill and decode speed, cold start and memory of MODEL (a bundle, a
    Hugging Face folder or a GGUF file) on every backend, interleaved, against the
    bandwidth roofline."""
    from ..bench.api import BenchRequest, run
    from ..bench.quiet import quiet_third_party
    from ..bench.runner import format_table
    from ..errors import EdgeReasonError
    from ..shapes import SHAPES

    if shape is not None and shape not in SHAPES:
        raise click.BadParameter(
            f"{shape!r}: known shapes are {', '.join(sorted(SHAPES))}", param_hint="--shape"
        )
    if plot_file is not None:
        require_matplotlib()

    def progress(message: str) -> None:
        click.echo(message, err=True)

    quiet_third_party()
    request = BenchRequest(
        model,
        shape,
        backends,
        quant,
        threads,
        prompt_tokens,
        gen_tokens,
        repeats,
        batch=batch,
        speculative=speculative,
    )
    try:
        report = run(request, progress, measuring=progress_bar)
    except (EdgeReasonError, ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    data = report.to_json()

    to_stdout = json_file == Path("-")
    lines = [format_table(data)]
    lines += [f"skipped {s.label}: {s.reason}" for s in report.skipped]
    lines += [f"failed {_case(f).label}: {f['reason']}" for f in report.failed]
    click.echo("\n".join(lines), err=to_stdout)
    if to_stdout:
        click.echo(json.dumps(data, indent=2))
    elif json_file is not None:
        json_file.write_text(json.dumps(data, indent=2) + "\n")
        progress(f"wrote {json_file}")
    if plot_file is not None:
        from ..bench.plot import plot_report

        plot_report(data, plot_file)
        progress(f"wrote {plot_file}")
