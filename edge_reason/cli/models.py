"""`edge-reason make-model`: a random-weight model of a real architecture, built locally."""

from __future__ import annotations

from pathlib import Path

import click

from ..shapes import SHAPES
from .errors import api_errors


@click.command("make-model")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--shape", type=click.Choice(sorted(SHAPES)), default="smollm2-135m", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
def make_model(out_dir: Path, shape: str, seed: int) -> None:
    """Write a random-weight Hugging Face model folder of SHAPE into OUT_DIR.

    Its speed is that of the real model; its text is noise. For benchmarks and
    for trying the engine without a download.
    """
    from ..shapes import write_random_model

    if out_dir.exists() and any(out_dir.iterdir()):
        raise click.ClickException(f"{out_dir} is not empty; choose a new folder")
    with api_errors(), click.progressbar(length=1, label=f"writing {shape}") as bar:
        write_random_model(shape, out_dir, seed=seed)
        bar.update(1)
    click.echo(f"wrote {out_dir} (random weights, shape {shape})")
