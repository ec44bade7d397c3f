"""`edge-reason chat`: a conversation with a model, at a terminal or from stdin.

At a terminal, each line you type is a user message; the reply streams back (its
reasoning dimmed) followed by its speed. /reset forgets the conversation, /system TEXT
sets the system message (no TEXT: none), /exit or Ctrl-D ends; Ctrl-C stops the reply
being written, and the conversation goes on.

From a pipe, each non-empty line of stdin is a user message (the /commands work too) and
each answer is printed on stdout, without its reasoning; speeds go to stderr.

With --json, stdin holds one JSON list of messages ({"role": ..., "content": ...}); the
model replies once, and the list is printed with the reply appended as
{"role": "assistant", "content": ANSWER, "reasoning_content": REASONING}.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from .errors import api_errors
from .options import engine_options, json_flag
from .run import load_engine, speed_summary
from .structured import response_format_options, warn_if_unfinished

if TYPE_CHECKING:
    from ..engine import Engine, Generation
    from ..structured_output import ResponseFormat

COMMANDS = "/reset, /system TEXT, /exit"


@click.command()
@click.argument("model", type=click.Path())
@engine_options
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0.0), default=0.0, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option("--system", default=None, help="The system message.")
@click.option(
    "--think/--no-think",
    default=None,
    help="Ask the template to enable or disable thinking (default: the template's own).",
)
@click.option(
    "--thinking-budget",
    type=click.IntRange(min=1),
    default=None,
    help="Close the thinking after this many tokens of it.",
)
@response_format_options(stdin=False)
@json_flag("Reply to a JSON list of messages.")
def chat(
    model: str,
    quant: str | None,
    threads: int | None,
    max_new_tokens: int,
    temperature: float,
    seed: int | None,
    system: str | None,
    think: bool | None,
    thinking_budget: int | None,
    response_format: ResponseFormat | None,
    as_json: bool,
) -> None:
    """Chat with the model at MODEL (its chat template formats the conversation).

    At a terminal: type a message; /reset, /system TEXT, /exit (or Ctrl-D); Ctrl-C stops a
    reply. Piped: one user message per line, answers on stdout, speeds on stderr. --json:
    a JSON list of messages on stdin; the list with the reply appended on stdout.
    --json-schema, --json-object, --regex or --grammar constrain every reply to that format.
    """
    if response_format is not None and thinking_budget is not None:
        # budget forcing writes the end of the thinking, which the format has not allowed
        raise click.ClickException("--thinking-budget and a response format exclude each other")
    engine = load_engine(model, quant, threads)
    options = {
        "enable_thinking": think,
        "thinking_budget": thinking_budget,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "seed": seed,
        "response_format": response_format,
    }
    stdin = sys.stdin
    if as_json:
        _reply_to_json(engine, stdin.read(), options)
        return
    with api_errors():  # a model without a (working) template fails before the first line
        engine.apply_chat_template([{"role": "user", "content": "hi"}])
    interactive = stdin.isatty()
    conversation = _Conversation(system)
    for line in _terminal_lines() if interactive else (line.rstrip("\n") for line in stdin):
        if line.startswith("/"):
            _command(conversation, line, interactive)
        elif line.strip():
            conversation.say(engine, line, options, interactive)


class _Conversation:
    def __init__(self, system: str | None) -> None:
        self.system = system
        self.turns: list[dict[str, str]] = []

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.turns

    def say(self, engine: Engine, text: str, options: dict[str, Any], interactive: bool) -> None:
        """Add a user message and stream the reply; a reply stopped by Ctrl-C keeps what
        it said so far."""
        self.turns.append({"role": "user", "content": text})
        dropped = self.fit(engine, options)
        if dropped:
            click.echo(f"[the oldest {dropped} exchange(s) left out to fit the context]", err=True)
        answer: list[str] = []
        thought = False  # reasoning was shown
        try:
            with api_errors():
                stream = engine.chat_stream(self.messages(), **options)
                try:
                    for piece in stream:
                        if piece.kind == "answer":
                            if interactive and answer == [] and thought:
                                click.echo()  # the answer starts below the reasoning
                            answer.append(piece.text)
                            click.echo(piece.text, nl=False)
                        elif interactive:
                            thought = True
                            click.echo(click.style(piece.text, dim=True), nl=False)
                        sys.stdout.flush()
                finally:
                    stream.close()  # after Ctrl-C too: the engine is free again
        except KeyboardInterrupt:
            click.echo(" [stopped]")
            self.turns.append({"role": "assistant", "content": "".join(answer)})
            return
        except click.ClickException as e:
            self.turns.pop()
            if not interactive:
                raise
            e.show()
            return
        click.echo()
        generation: Generation = stream.generation
        self.turns.append({"role": "assistant", "content": generation.text})
        summary = speed_summary(generation.stats)
        if interactive:
            click.echo(click.style(f"[{summary}]", dim=True))
        else:
            click.echo(summary, err=True)
        warn_if_unfinished(generation, options["response_format"])

    def fit(self, engine: Engine, options: dict[str, Any]) -> int:
        """Leave out the oldest exchanges (a user message and its reply) until the prompt
        and the reply fit the context; return how many went. The newest message stays:
        alone too long, it gets the engine's one-line error."""
        room = engine.info()["max_context"] - options["max_new_tokens"]
        dropped = 0
        while len(self.turns) > 2 and self._prompt_tokens(engine, options) > room:
            del self.turns[:2]
            dropped += 1
        return dropped

    def _prompt_tokens(self, engine: Engine, options: dict[str, Any]) -> int:
        prompt = engine.apply_chat_template(
            self.messages(), enable_thinking=options["enable_thinking"]
        )
        return len(engine.encode(prompt))


def _command(conversation: _Conversation, line: str, interactive: bool) -> None:
    name, _, argument = line.partition(" ")
    if name == "/reset":
        conversation.turns.clear()
    elif name == "/system":
        conversation.system = argument.strip() or None
    elif name == "/exit":
        raise SystemExit(0)
    elif interactive:
        click.echo(f"unknown command {name}: use {COMMANDS}")
    else:
        raise click.ClickException(f"unknown command {name}: use {COMMANDS}")


def _terminal_lines() -> Iterator[str]:
    """Lines typed at the prompt until Ctrl-D; Ctrl-C at the prompt just clears it."""
    click.echo(click.style(f"Commands: {COMMANDS}. Ctrl-C stops a reply.", dim=True))
    while True:
        try:
            yield input("> ")
        except KeyboardInterrupt:
            click.echo()
        except EOFError:
            click.echo()
            return


def _reply_to_json(engine: Engine, text: str, options: dict[str, Any]) -> None:
    try:
        messages = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.ClickException(f"stdin: not valid JSON ({e})") from e
    with api_errors():
        generation = engine.chat(messages, **options)
    reply = {
        "role": "assistant",
        "content": generation.text,
        "reasoning_content": generation.reasoning,
    }
    click.echo(json.dumps([*messages, reply], indent=1, ensure_ascii=False))
    click.echo(speed_summary(generation.stats), err=True)
    warn_if_unfinished(generation, options["response_format"])
