"""`edge-reason generate` and `edge-reason info`: run a model from the shell."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .errors import api_errors
from .numbers import readable
from .options import engine_options, json_flag
from .structured import response_format_options, warn_if_unfinished

if TYPE_CHECKING:
    from ..engine import Engine, GenerationStats
    from ..structured_output import ResponseFormat


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("prompt")
@engine_options
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0.0), default=0.0, show_default=True)
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--top-p", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=1.0)
@click.option("--seed", type=click.IntRange(min=0), default=None)
@response_format_options(stdin=True)
@json_flag("Print one JSON object: the text and its speeds.")
def generate(
    path: str,
    prompt: str,
    quant: str | None,
    threads: int | None,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int | None,
    response_format: ResponseFormat | None,
    as_json: bool,
) -> None:
    """Stream a continuation of PROMPT from the model at PATH (its speed goes to stderr).

    --json-schema, --json-object, --regex or --grammar constrain the text to that format
    (one of them); generation ends where the format is complete."""
    engine = load_engine(path, quant, threads)
    with api_errors():
        pieces = engine.stream(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            response_format=response_format,
        )
        for piece in pieces:
            if not as_json:  # the JSON document carries the whole text at the end
                click.echo(piece, nl=False)
                sys.stdout.flush()
    generation = pieces.generation
    if as_json:
        click.echo(json.dumps({"text": generation.text, **speed_fields(generation.stats)}))
    else:
        click.echo()
        click.echo(speed_summary(generation.stats), err=True)
    warn_if_unfinished(generation, response_format)


@click.command()
@click.argument("path", type=click.Path(exists=True))
@engine_options
@json_flag("Print one JSON object.")
def info(path: str, quant: str | None, threads: int | None, as_json: bool) -> None:
    """Load the model at PATH and describe it and the engine that runs it."""
    details = load_engine(path, quant, threads).info()
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    width = max(len(k) for k in details)
    for key, value in details.items():
        click.echo(f"{key:<{width}}  {readable(value)}")


def load_engine(path: str, quant: str | None, threads: int | None) -> Engine:
    from ..engine import Engine

    with api_errors():
        return Engine.load(path, quant=quant, threads=threads)


def speed_summary(stats: GenerationStats) -> str:
    return (
        f"{stats.generated_tokens} tokens; prefill {stats.prefill_tokens_per_second:.1f} "
        f"tokens/s, decode {stats.decode_tokens_per_second:.1f} tokens/s"
    )


def speed_fields(stats: GenerationStats) -> dict[str, float | int]:
    """The speeds in full precision, for --json."""
    return {
        "prompt_tokens": stats.prompt_tokens,
        "generated_tokens": stats.generated_tokens,
        "prefill_tokens_per_second": stats.prefill_tokens_per_second,
        "decode_tokens_per_second": stats.decode_tokens_per_second,
    }
