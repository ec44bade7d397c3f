"""`edge-reason recipe`: the training recipes that build bundled models.

`babi-arith run` runs the default model's recipe (every stage, or one) in a work folder;
`babi-arith report` prints its evaluation as Markdown tables. The recipe itself is plain
functions in edge_reason/export/recipes/babi_arith/.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..export.recipes.babi_arith.stages import STAGES
from .options import json_flag


@click.group("recipe")
def recipe() -> None:
    """Train, distill, quantize and bundle a model with a built-in recipe."""


# No default folder: an installed package has no source checkout to look beside.
DATA_ENVIRONMENT = "EDGE_REASON_DATA"


@recipe.group("babi-arith", context_settings={"help_option_names": ["-h", "--help"]})
def babi_arith() -> None:
    """The default reasoning model: bAbI 20 tasks and multi-digit addition."""


@babi_arith.command("run")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for every stage's output, checkpoints and the final bundle.",
)
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_ENVIRONMENT,
    show_envvar=True,
    help="The shared data folder (bAbI, GSM8K and the addition sets). Required: "
    f"--data or ${DATA_ENVIRONMENT}.",
)
@click.option("--smoke", is_flag=True, help="A few steps of each stage on a slice of the data.")
@click.option("--stage", type=click.Choice(STAGES), help="Run this stage only.")
@click.option("--resume", is_flag=True, help="Skip finished stages; continue training.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A recipe file in place of the built-in recipe.toml.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_flag("Print the stage summaries as JSON.")
def run(
    work: Path,
    data_root: Path | None,
    smoke: bool,
    stage: str | None,
    resume: bool,
    config: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the recipe (every stage in order, or --stage) in WORK."""
    from ..export.recipes.babi_arith.settings import DEFAULT_CONFIG, SettingsError, load_settings
    from ..export.recipes.babi_arith.stages import Recipe, StageError, run_recipe
    from ..export.recipes.babi_arith.training import TrainingInterrupted

    if data_root is None:
        raise click.UsageError(f"no data folder: pass --data FOLDER or set ${DATA_ENVIRONMENT}")
    if not data_root.is_dir():
        raise click.ClickException(f"{data_root}: the data folder does not exist")
    try:
        settings = load_settings(config or DEFAULT_CONFIG, smoke=smoke)
        recipe = Recipe(work, data_root, settings, progress=not quiet)
        summaries = run_recipe(recipe, stage=stage, resume=resume)
    except TrainingInterrupted as stopped:
        click.echo(str(stopped), err=True)
        raise SystemExit(130) from None
    except (SettingsError, StageError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(summaries))
        return
    for name, summary in summaries.items():
        click.echo(f"{name:<10} done in {summary['seconds']:.1f} s")


@babi_arith.command("report")
@click.option(
    "--work",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The work folder of a run whose evaluate stage has finished.",
)
def report(work: Path) -> None:
    """Print the evaluation of the run in WORK as Markdown tables (docs/default-model.md's)."""
    from ..export.recipes.babi_arith.report_tables import markdown_tables
    from ..export.recipes.babi_arith.stages import REPORT

    path = work / "evaluate" / REPORT
    if not path.is_file():
        raise click.ClickException(f"{path}: no evaluation yet (run the evaluate stage first)")
    try:
        click.echo(markdown_tables(json.loads(path.read_text())), nl=False)
    except (ValueError, KeyError, TypeError) as error:
        raise click.ClickException(f"{path}: not an evaluation report ({error!r})") from error
