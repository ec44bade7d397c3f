"""`edge-reason distill`: train a small student on a teacher's next-token distributions.

Runs on one machine as it is, and on several GPUs through
`accelerate launch "$(which edge-reason)" distill ...` with the same arguments.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import json_flag


@click.command()
@click.option(
    "--teacher",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Hugging Face model folder with tokenizer.json.",
)
@click.option(
    "--student",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A config JSON (random init) or a Hugging Face folder to start from.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Reasoning traces: text (a trace per line) or JSONL ('text', or 'question' + 'answer').",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder (empty, or the folder of the run to --resume).",
)
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Blocks per process per step.",
)
@click.option("--seq-len", type=click.IntRange(min=2), default=256, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-4, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Softens both distributions in the KL term.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Weight of the KL term; 1 - alpha weights the cross-entropy.",
)
@click.option(
    "--sequence-level",
    is_flag=True,
    help="Train on traces the teacher writes from the data's prompts.",
)
@click.option(
    "--generation-temperature",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Teacher sampling for --sequence-level (0: greedy).",
)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --out.")
@json_flag("Print one JSON summary.")
def distill(as_json: bool, **options: object) -> None:
    """Distill --teacher into --student over the traces in --data."""
    from edge_reason.export.distill import DistillSettings
    from edge_reason.export.distill import distill as run

    settings = DistillSettings(**options)  # type: ignore[arg-type]
    try:
        result = run(settings, show_progress=True)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        raise click.ClickException(str(e)) from e
    if not result.is_main_process:  # one report per run, not one per process
        return
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{summary['steps']} steps in {summary['seconds']:.1f} s: KD loss "
        f"{summary['kd_loss_first']:.4f} -> {summary['kd_loss_last']:.4f}; "
        f"student written to {summary['out']}"
    )
