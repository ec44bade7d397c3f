"""`edge-reason doctor`: what board this is and whether edge-reason will run well on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import json_flag

if TYPE_CHECKING:
    from edge_reason.boards.doctor import DoctorReport


def _engine_selected_kernel() -> str:
    """The kernel the native engine selects; ImportError when the module is not built."""
    from edge_reason import _native

    return _native.selected_kernel()


def _format_report(report: DoctorReport) -> str:
    k = report.kernel
    kernel = k.selected or "none (the engine would refuse to start)"
    if k.forced:
        kernel += f" (forced by EDGE_REASON_KERNEL={k.forced})"
    rows = [
        (
            "board",
            report.board
            + (
                f" ({report.device_tree_model})"
                if report.device_tree_model and report.profile
                else ""
            ),
        ),
        ("profile", report.profile or "none"),
        ("machine", report.machine),
        ("CPU", f"{report.cpu_model or 'unknown'}, {report.cores} cores"),
        ("CPU features", ", ".join(report.cpu_features) or "none the kernels use"),
        ("kernel", kernel),
        ("best kernel", k.best),
        ("kernel source", k.source),
        ("threads", f"{report.decode_threads} for decode, {report.prefill_threads} for prefill"),
        ("RAM", f"{report.ram_available_mb} MB free of {report.ram_total_mb} MB"),
    ]
    rows += [(f"temperature {z.name}", f"{z.celsius:.1f} °C") for z in report.thermal]
    if report.throttling is not None:
        t = report.throttling
        words = ", ".join(t.now + t.since_boot) or "never"
        rows.append(("throttling", f"0x{t.raw:x}: {words}"))
    if report.model is not None:
        m = report.model
        verdict = "fits" if m.fits_available_ram else "does NOT fit"
        rows.append(
            (
                "model",
                f"{m.path}: {m.params / 1e9:.2f} B parameters, {m.need_mb} MB at {m.quant} "
                f"with {m.context} tokens ({m.kv_cache} cache): {verdict} in free RAM",
            )
        )
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"warning: {w}" for w in report.warnings] or ["no warnings"]
    return "\n".join(lines)


@click.command()
@json_flag()
@click.option(
    "--model",
    type=click.Path(exists=True, path_type=Path),
    help="A model (Hugging Face folder, bundle or GGUF file) to check against the free RAM.",
)
def doctor(as_json: bool, model: Path | None) -> None:
    """Detect the board, show its profile, kernel, threads, RAM and temperature, and warn
    about what would make edge-reason slow or fail here."""
    from edge_reason.boards.doctor import run_doctor
    from edge_reason.errors import EdgeReasonError

    try:
        report = run_doctor(_engine_selected_kernel, model_dir=model)
    except EdgeReasonError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(_format_report(report))
