"""`edge-reason agent MODEL GOAL`: the tool-using agent from the shell."""

from __future__ import annotations

import click

from .errors import api_errors
from .options import budget_option, json_flag
from .question import not_blank
from .reason import QUANTS, _load_engine


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("goal", callback=not_blank)
@click.option(
    "--db",
    type=click.Path(exists=True, dir_okay=False),
    help="Document store (from `edge-reason index`) searched as the agent's memory.",
)
@click.option("--max-steps", type=click.IntRange(min=1), default=8, show_default=True)
@budget_option
@click.option("--no-review", is_flag=True, help="Do not ask the model to review its answer.")
@click.option(
    "--no-recall",
    is_flag=True,
    help="Do not search --db for the goal before the first step (the model searches alone).",
)
@click.option(
    "--quant",
    type=click.Choice(QUANTS),
    help="How to hold the weights (a .gguf file: f32, its exact values).",
)
@json_flag("Print the run as one JSON object: every step, the checks, the answer.")
def agent(
    model: str,
    goal: str,
    db: str | None,
    max_steps: int,
    budget_ms: float | None,
    no_review: bool,
    no_recall: bool,
    quant: str | None,
    as_json: bool,
) -> None:
    """Work towards GOAL with the chat model at MODEL, calling tools (calculator, unit
    conversion, and with --db a search of your notes) step by step; every step is shown,
    and the answer is checked by the verifier."""
    from edge_reason.reasoning.agent import Agent
    from edge_reason.reasoning.retrieval import DocumentStore

    engine = _load_engine(model, quant)
    if getattr(engine, "is_encoder", False):
        raise click.ClickException(
            f"{model} is an encoder: it embeds text; the agent needs a chat model (use it as "
            "--db's embedding model: edge-reason index DOCS --db FILE --embed MODEL)"
        )
    if getattr(engine, "chat_template", None) is None:
        raise click.ClickException(
            f"{model} has no chat template: the agent asks a chat model for its steps"
        )
    with api_errors():
        memory = DocumentStore(db) if db else None
        runner = Agent(engine, memory=memory, review=not no_review, recall_first=not no_recall)
        result = runner.run(goal, max_steps=max_steps, budget_ms=budget_ms)
    click.echo(result.to_json() if as_json else result.format())
