"""The Reasoner's tools offered to a chat model in its own tool-call format, and served.

A chat model (chat_prompts.py) is offered the Reasoner's ToolRegistry (calculator, unit
conversion, user tools) and, when a retriever is set, ``search_notes``, as chat tools:
``Engine.chat(tools=...)`` shows them in the model's format (or in the system message, for a
template that shows none) and constrains each call to its tool's schema. A reply with calls
is answered: each call runs through the registry (``ToolRegistry.call``), the assistant's
calls and one ``{"role": "tool"}`` result per call are appended, and the model is asked
again, for at most ``MAX_TOOL_ROUNDS`` replies with calls, one call each (then once more with
tool_choice "none", so that the chain ends in text), within the chain's tokens and deadline.
A failing tool (ToolError, ToolArgumentError: an unknown name, bad arguments, arithmetic
that does not compute) is answered with its error, which the model may act on; it never
raises.

The chain the verifier sees is the model's text with a line per call and what it returned:
``calculator(1234 * 5678) = 7006652`` (an equation: recomputed as a written one is),
``convert({"value": 5, "from": "km", "to": "m"}) = 5000 m``. A failed call's line gives the
error with its "=" written "＝": the input the tool refused is no calculation the chain rests
on, and must not be checked (or repaired) as one.

``search_notes`` returns the best passages numbered after the prompt's notes ([4], [5], ...;
a passage keeps its number for the whole question, one already in the prompt keeps its
own), so the answer cites them as it cites the prompt's; ``found_notes`` holds them for the
verifier and the answer's citations. In the chain's line a result's [4] is written #4: only
the model's own [4] is a citation, which the verifier checks against the note.

tool_choice ("auto", "required" or a tool's name) applies to a chain's first reply; later
ones are "auto", so that a model forced to call can still answer. Left unset (None), it is
"auto" for a model whose chat template shows it tools (it was tuned to call them) and
"none" for one whose template does not (SmolLM2-135M: offered tools in a system message,
it never called one in 42 replies, and its text answers got worse: docs/ask-your-notes.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .chat_prompts import ChatPrompt, Messages
from .errors import RetrievalError, ToolError
from .generation import ChainGenerator, GeneratedChain
from .note_citations import CITATION
from .policy import TokenRates
from .retrieval import DocumentStore, Passage
from .tools import CALCULATOR, Tool, ToolRegistry

if TYPE_CHECKING:
    from edge_reason.engine import Engine, PromptState

MAX_TOOL_ROUNDS = 4  # replies with calls in one chain; one more reply may not call
# One call per reply: allowed more, SmolLM2-135M wrote the same call until the reply's
# token limit (8 times, 256 tokens); a chain of several steps calls over several replies.
PARALLEL_CALLS = False
TOOL_CHOICES = ("auto", "required", "none")
SEARCH_NOTES = "search_notes"
SEARCH_RESULTS = 3
_SEARCH_PARAMETERS = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 200}},
    "required": ["query"],
}


def check_tool_choice(
    choice: Any, tools: ToolRegistry, retriever: DocumentStore | None
) -> str | None:
    """``choice`` if it is None (the model's default), "auto", "required", "none" or the
    name of a tool the Reasoner offers (a registered one, or ``search_notes`` with a
    retriever); else ValueError."""
    if choice is None:
        return None
    names = [tool.name for tool in tools] + ([SEARCH_NOTES] if retriever is not None else [])
    if choice in TOOL_CHOICES or (isinstance(choice, str) and choice in names):
        return choice
    known = ", ".join(TOOL_CHOICES + tuple(names))
    raise ValueError(f"tool_choice must be one of {known}, got {choice!r}")


class ChatTools:
    """The tools one question offers a chat model, and the prompts that offer them.

    ``offer(prompt)`` is the chat prompt rendered with the tools; ``generator(...)`` the
    ChatToolGenerator that answers the calls. None of it when there is nothing to offer
    (``ChatTools.build`` returns None).
    """

    def __init__(
        self,
        engine: Engine,
        tools: ToolRegistry,
        tool_choice: str = "auto",
        retriever: DocumentStore | None = None,
    ) -> None:
        self.engine = engine
        self.tools = ToolRegistry({tool.name: tool for tool in tools})  # this question's
        self.retriever = retriever
        if retriever is not None and SEARCH_NOTES not in self.tools:
            self.tools.register(
                Tool(
                    SEARCH_NOTES,
                    "Search the user's notes: the best passages, each with the number to "
                    "cite it by, as [4]",
                    self._search,
                    _SEARCH_PARAMETERS,
                )
            )
        self.tool_choice = tool_choice
        self.functions = self.tools.functions()
        # the notes the question has numbered: the prompt's, then those a search found
        self.notes: list[Passage] = []
        self.prompt_notes = 0
        # rendered prompt text -> its messages (without the tools), for the tool rounds
        self.conversations: dict[str, Messages] = {}

    @classmethod
    def build(
        cls,
        engine: Engine,
        tools: ToolRegistry,
        tool_choice: str | None,
        retriever: DocumentStore | None = None,
    ) -> ChatTools | None:
        """The tools to offer, or None: tool_choice "none" (or unset, for a model whose
        template shows no tools), an empty registry (which switches tool calls off, the
        search tool's too), or an engine that cannot chat (a stand-in that only generates
        is asked as before)."""
        if not len(tools) or not callable(getattr(engine, "chat", None)):
            return None
        if tool_choice is None:
            syntax = getattr(engine, "tool_call_syntax", None)
            tool_choice = "auto" if syntax is not None and syntax.renders_tools else "none"
        if tool_choice == "none":
            return None
        return cls(engine, tools, tool_choice, retriever)

    def offer(self, prompt: ChatPrompt) -> ChatPrompt:
        """``prompt`` rendered with the tools offered, as ``Engine.chat`` renders them."""
        return replace(prompt, template=self._template)

    def generator(self, rates: TokenRates, notes: Sequence[Passage]) -> ChatToolGenerator:
        """The generator for a question whose prompt holds ``notes`` (numbered [1], [2])."""
        self.notes = list(notes)
        self.prompt_notes = len(self.notes)
        return ChatToolGenerator(self, rates)

    def render(self, messages: Messages) -> str:
        """The prompt ``Engine.chat(messages, tools=...)`` runs (the same text)."""
        from edge_reason.tool_calls import check_tools

        syntax = self.engine.tool_call_syntax
        shown = syntax.prompt_messages(messages, check_tools(self.functions))
        return self.engine.apply_chat_template(
            shown,
            tools=self.functions if syntax.renders_tools else None,
            add_generation_prompt=True,
        )

    def _template(self, messages: Messages) -> str:
        text = self.render(messages)
        self.conversations[text] = [dict(message) for message in messages]
        return text

    def run(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """A call's result, or its error (and whether it succeeded)."""
        try:
            return self.tools.call(name, arguments), True
        except ToolError as error:
            return f"error: {error}", False

    def choice(self, round_: int, max_rounds: int) -> str | dict[str, Any]:
        """tool_choice for a chain's reply ``round_`` (0: the first)."""
        if round_ >= max_rounds:
            return "none"
        if round_ > 0:
            return "auto"
        if self.tool_choice in TOOL_CHOICES:
            return self.tool_choice
        return {"type": "function", "function": {"name": self.tool_choice}}

    def _search(self, query: str) -> str:
        assert self.retriever is not None  # the tool exists only with a retriever
        try:
            found = self.retriever.search(query, SEARCH_RESULTS)
        except RetrievalError as error:
            raise ValueError(str(error)) from None
        if not found:
            return "no note matches"
        return "\n".join(f"[{self._number(p)}] {p.source} {p.ref}: {p.text.strip()}" for p in found)

    def _number(self, passage: Passage) -> int:
        """The passage's note number: its place among the notes numbered so far, else the
        next one."""
        for number, note in enumerate(self.notes, start=1):
            if (note.source, note.ref) == (passage.source, passage.ref):
                return number
        self.notes.append(passage)
        return len(self.notes)


class ChatToolGenerator(ChainGenerator):
    """A ChainGenerator for a chat model offered tools: a chain that starts from an offered
    prompt is the model's replies with the tool rounds between them (module docstring);
    any other (a repaired chain's continuation, a prompt with a cue) is generated as
    ChainGenerator generates it."""

    def __init__(
        self, chat_tools: ChatTools, rates: TokenRates, max_rounds: int = MAX_TOOL_ROUNDS
    ) -> None:
        super().__init__(chat_tools.engine, chat_tools.tools, rates)
        self.chat_tools = chat_tools
        self.max_rounds = max_rounds
        self._conversations: dict[tuple[int, ...], Messages] = {}

    @property
    def found_notes(self) -> tuple[Passage, ...]:
        """The notes a search found beyond the prompt's: numbered after them."""
        return tuple(self.chat_tools.notes[self.chat_tools.prompt_notes :])

    def prefill(self, text: str, prefix: PromptState | None = None) -> PromptState:
        state = super().prefill(text, prefix)
        conversation = self.chat_tools.conversations.get(text) if prefix is None else None
        if conversation is not None:
            self._conversations[state.token_ids] = conversation
        return state

    def generate(
        self,
        state: PromptState,
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int | None,
        stop: tuple[str, ...],
        deadline: float | None = None,
        **options: Any,
    ) -> GeneratedChain:
        """A chain of replies and tool rounds after an offered prompt; after any other
        state, ChainGenerator's chain (``options``: ChainGenerator.generate's others)."""
        conversation = self._conversations.get(state.token_ids)
        if conversation is None:
            return super().generate(
                state,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
                stop=stop,
                deadline=deadline,
                **options,
            )
        messages = [dict(message) for message in conversation]
        lines: list[str] = []
        tokens = calls = 0
        for round_ in range(self.max_rounds + 1):
            prompt = len(self.engine.encode(self.chat_tools.render(messages)))
            room = min(max_new_tokens - tokens, self.max_context - prompt - 1)
            left = None if deadline is None else deadline - time.perf_counter()
            if room <= 0 or (left is not None and left <= 0):
                break
            reply = self.engine.chat(
                messages,
                tools=self.chat_tools.functions,
                tool_choice=self.chat_tools.choice(round_, self.max_rounds),
                parallel_tool_calls=PARALLEL_CALLS,
                max_new_tokens=room,
                temperature=temperature,
                seed=None if seed is None else seed + round_,
                stop=stop,
                time_limit_s=left,
            )
            self._record(reply)
            tokens += reply.stats.generated_tokens
            if reply.text.strip():
                lines.append(reply.text.strip("\n"))
            called = _distinct(reply.tool_calls)
            if not called:
                break
            messages.append(
                {
                    "role": "assistant",
                    "content": reply.text,
                    "tool_calls": [call.as_openai() for call in called],
                }
            )
            for call in called:
                result, ok = self.chat_tools.run(call.name, call.arguments)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result}
                )
                lines.append(call_line(call.name, call.arguments, result, ok))
            calls += len(called)
        self.rates.record_chain(tokens)
        return GeneratedChain("\n".join(lines), tokens, calls)


def call_line(name: str, arguments: dict[str, Any], result: str, ok: bool) -> str:
    """A call and what it returned as a line of the chain: the calculator's as the equation
    it computed, ``calculator(12 * 7) = 84``; any other tool's arguments as JSON. A failed
    call's line has no "=" (written "＝") for the verifier to take for a calculation, and a
    result's ``[4]`` is written ``#4``: a citation is the model's to write, not the tool's."""
    expression = arguments.get("expression") if name == CALCULATOR.name else None
    shown = " ".join(expression.split()) if isinstance(expression, str) else None
    if shown is None:
        shown = json.dumps(arguments, ensure_ascii=False)
    result = CITATION.sub(r"#\1", " ".join(result.split()))
    if ok:
        return f"{name}({shown}) = {result}"
    return f"{name}({shown}) failed: {result.removeprefix('error: ')}".replace("=", "＝")


def _distinct(calls: Sequence[Any]) -> list[Any]:
    """The calls of a reply, a repeated one (same tool, same arguments) once: a small model
    may write the same call until the reply's call limit."""
    seen: set[str] = set()
    kept = []
    for call in calls:
        key = json.dumps([call.name, call.arguments], sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(call)
    return kept
