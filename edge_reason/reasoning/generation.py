"""Generating a chain while serving tool calls, and measuring how sure the model is.

When tools are on, generation pauses at every ``=``. If the text has an open ``<<`` the
body is a tool call (arithmetic for the calculator, or ``name{json}``): its exact result and
``>>`` are appended, otherwise just the ``=``; the text is prefilled after the paused state
and generation continues. Pauses are bounded (``MAX_PAUSES``), as are the tokens.

When the plan fixed the answer's form (answer_constraint.py), every generation call gets
the response_format for what may follow the chain's text so far, so the chain stays free
and the answer after its marker has the form. A chain that stops before its answer (out of
tokens or time, or at a stop string) is closed: the marker and an answer, in at most
``ANSWER_TOKENS`` tokens more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_reason.errors import ResponseFormatError
from edge_reason.sampling_params import SamplingParams

from .answer_constraint import AnswerConstraint
from .errors import ContextLengthError, ToolError
from .policy import TokenRates
from .tools import ToolRegistry

if TYPE_CHECKING:
    from edge_reason.engine import Engine, Generation, PromptState

    from .retrieval import Passage

MAX_PAUSES = 16
# tokens a chain cut before its answer may take past its budget for the marker and the
# answer ("#### 10912" is 10 tokens of the shipped model's, "\nAnswer: apple,football" 6)
ANSWER_TOKENS = 16


@dataclass
class _Chain:
    """A chain being generated: its state so far and what it has produced."""

    current: PromptState
    text: str = ""
    tokens: int = 0
    calls: int = 0
    pending: str | None = ""  # the last call's text, not yet run (None: no room left)
    ended: bool = False


@dataclass(frozen=True)
class GeneratedChain:
    """A generated continuation: its text, generated tokens, and tool calls served."""

    text: str
    tokens: int
    tool_calls: int


class ChainGenerator:
    """Drives ``engine.generate`` for one chain, serving ``<<...=`` tool calls.

    ``answer``: the form the plan fixed for the question's answer (None: the chain is
    free); it is applied where the engine can constrain its output (a tokenizer that
    llguidance reads), and left out on one that cannot.
    """

    found_notes: tuple[Passage, ...] = ()  # notes beyond the prompt's a tool found (chat_tools.py)

    def __init__(
        self,
        engine: Engine,
        tools: ToolRegistry | None,
        rates: TokenRates,
        answer: AnswerConstraint | None = None,
    ) -> None:
        self.engine = engine
        self.tools = tools if tools else None  # an empty registry switches tool calls off
        self.rates = rates
        self.max_context = engine.info()["max_context"]
        self.answer = answer if answer is not None and can_constrain(engine) else None

    def prefill(self, text: str, prefix: PromptState | None = None) -> PromptState:
        """``engine.prefill`` with its speed recorded for the policy's estimates. Raises
        ContextLengthError when ``text`` after ``prefix`` does not fit the context."""
        ids = self.engine.encode(text)
        length = len(ids) + (len(prefix.token_ids) if prefix is not None else 0)
        if length > self.max_context:
            raise ContextLengthError(
                f"the prompt has {length} tokens but the model's context holds {self.max_context}"
            )
        start = time.perf_counter()
        before = self.engine.tokens_evaluated
        state = self.engine.prefill(ids, prefix=prefix)
        self.rates.record_prefill(
            self.engine.tokens_evaluated - before, time.perf_counter() - start
        )
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
        written: str = "",
    ) -> GeneratedChain:
        """Generate after ``state`` until EOS, a ``stop`` string, ``max_new_tokens`` or the
        ``deadline`` (a time.perf_counter() value: the chain is cut there, unfinished).
        ``written``: the chain's text already in ``state`` (a direct cue, a repaired
        prefix), which the answer's form counts; the text returned is what follows it."""
        return self.generate_many(
            state,
            seeds=[seed],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            stop=stop,
            deadline=deadline,
            written=written,
        )[0]

    def generate_many(
        self,
        state: PromptState,
        *,
        seeds: list[int | None],
        max_new_tokens: int,
        temperature: float,
        stop: tuple[str, ...],
        deadline: float | None = None,
        written: str = "",
    ) -> list[GeneratedChain]:
        """One chain after ``state`` per seed, as :meth:`generate` makes it, decoded
        together: each round runs every unfinished chain up to its next tool call or its
        end in one batch (``engine.generate_batch``), so k chains cost about one's time."""
        chains = [_Chain(state) for _ in seeds]
        for pause in range(MAX_PAUSES + 1):
            pausing = self.tools is not None and pause < MAX_PAUSES
            calls: list[tuple[_Chain, dict[str, Any]]] = []
            for chain, seed in zip(chains, seeds, strict=True):
                if chain.ended:
                    continue
                room = min(
                    max_new_tokens - chain.tokens, self.max_context - len(chain.current.token_ids)
                )
                left = None if deadline is None else deadline - time.perf_counter()
                if room <= 0 or (left is not None and left <= 0):
                    chain.ended = True
                    continue
                options = dict(
                    max_new_tokens=room,
                    temperature=temperature,
                    seed=None if seed is None else seed + pause,
                    stop=stop + ("=",) if pausing else stop,
                    time_limit_s=left,
                )
                calls.append((chain, options))
            if not calls:
                break
            results, batched = self._generate_each(calls, written)
            for (chain, _), result in zip(calls, results, strict=True):
                self._record(result, batched=batched)
                chain.text += result.text
                chain.tokens += result.stats.generated_tokens
                if not pausing or not self._paused_at_equals(result):
                    chain.pending = result.text  # generated after ``current``
                    chain.ended = True
                    continue
                inserted = self.after_equals(chain.text)
                try:
                    chain.current = self.prefill(result.text + inserted, prefix=chain.current)
                except ContextLengthError:
                    chain.pending = None  # the context is full: the chain ends where it stands
                    chain.ended = True
                    continue
                chain.calls += inserted != "="
                chain.text += inserted
        out = []
        for chain, seed in zip(chains, seeds, strict=True):
            if chain.pending is not None and self.answer is not None:
                if not self.answer.finished(written + chain.text):
                    closing, more = self._close(
                        chain.current, chain.pending, written + chain.text, temperature, seed
                    )
                    chain.text, chain.tokens = chain.text + closing, chain.tokens + more
            self.rates.record_chain(chain.tokens)
            out.append(GeneratedChain(chain.text, chain.tokens, chain.calls))
        return out

    def _generate_each(
        self, calls: list[tuple[_Chain, dict[str, Any]]], written: str
    ) -> tuple[list[Generation], bool]:
        """engine.generate for each (chain, options), under the answer's form for what each
        chain has written; as one batch when there are several and the engine batches
        (then the second value is True)."""
        batched = len(calls) > 1 and hasattr(self.engine, "generate_batch")

        def run(constrained: bool) -> list[Generation]:
            forms = [
                self._constrained(written + chain.text) if constrained else {} for chain, _ in calls
            ]
            if batched:
                params = [
                    SamplingParams(**options, **form)
                    for (_, options), form in zip(calls, forms, strict=True)
                ]
                return self.engine.generate_batch([chain.current for chain, _ in calls], params)
            return [
                self.engine.generate(chain.current, **options, **form)
                for (chain, options), form in zip(calls, forms, strict=True)
            ]

        try:
            return run(constrained=True), batched
        except ResponseFormatError:
            # the vocabulary cannot follow the form here (text llguidance forces that no
            # token spells): the chains go on free, as they would without a form
            self.answer = None
            return run(constrained=False), batched

    def _constrained(self, written: str, *, close: bool = False) -> dict[str, Any]:
        """The response_format argument for what may follow ``written`` (none when the
        answer has no form)."""
        if self.answer is None:
            return {}
        return {"response_format": self.answer.response_format(written, close=close)}

    def _close(
        self,
        state: PromptState,
        pending: str,
        written: str,
        temperature: float,
        seed: int | None,
    ) -> tuple[str, int]:
        """The marker and an answer (text, tokens) after a chain that stopped before its
        answer: ``written`` is the chain, ``pending`` its end not yet run after ``state``."""
        try:
            state = self.prefill(pending, prefix=state) if pending else state
        except ContextLengthError:
            return "", 0
        room = min(ANSWER_TOKENS, self.max_context - len(state.token_ids))
        if room <= 0:
            return "", 0
        try:
            result = self.engine.generate(
                state,
                max_new_tokens=room,
                temperature=temperature,
                seed=seed,
                **self._constrained(written, close=True),
            )
        except ResponseFormatError:
            return "", 0  # the vocabulary cannot write an answer of the form here
        self._record(result)
        return result.text, result.stats.generated_tokens

    def _record(self, result: Generation, *, batched: bool = False) -> None:
        stats = result.stats
        if batched:
            self.rates.record_batched_decode(stats.generated_tokens, stats.decode_seconds)
        else:
            self.rates.record_decode(stats.generated_tokens, stats.decode_seconds)
        self.rates.record_prefill(stats.prefilled_tokens, stats.prefill_seconds)

    def _paused_at_equals(self, result: Generation) -> bool:
        if result.finish_reason != "stop" or not result.token_ids:
            return False
        return "=" in self.engine.decode(result.token_ids[-1:])

    def after_equals(self, text: str) -> str:
        """What follows a generated ``=``: a tool's result and ``>>`` inside ``<<``, else
        the ``=`` alone (also when the tool fails: the verifier will judge the step)."""
        opened = text.rfind("<<")
        if opened < 0 or text.rfind(">>") > opened:
            return "="
        try:
            return "=" + self.tools.run_annotation(text[opened + 2 :]) + ">>"
        except ToolError:
            return "="


def can_constrain(engine: Engine) -> bool:
    """Whether ``engine`` can constrain what it generates: a tokenizer that llguidance reads
    and whose tokens spell its text (a scripted stand-in, an engine run on token ids alone,
    or a word-level vocabulary that joins its words with spaces cannot)."""
    if not callable(getattr(engine, "grammar_processor", None)):
        return False
    if getattr(engine, "tokenizer", None) is None:
        return False
    try:
        engine.grammar_processor(_ANY_TEXT)  # builds the engine's grammar tokenizer once
    except ResponseFormatError:
        return False
    return True


_ANY_TEXT = {"type": "regex", "pattern": "(?s:.*)"}


def answer_logprobs(
    engine: Engine, state: PromptState, chain: str, answer: str
) -> tuple[float, ...]:
    """The model's log-probability of each token of ``answer``'s first word where it stands
    in ``chain`` (the text generated after ``state``); empty when the answer is not found in
    the chain or the tokenizer merges it with the text before it. A tokenizer whose tokens
    carry their leading space (" 1300") is asked for the tokens from that space on."""
    first_word = answer.split(",")[0].strip()
    at = chain.rfind(first_word) if first_word else -1
    if at < 0:
        return ()
    end = at + len(first_word)
    with_answer = engine.encode(chain[:end])
    for start in dict.fromkeys((at, len(chain[:at].rstrip(" ")))):
        before_ids = engine.encode(chain[:start]) if start else []
        if len(with_answer) > len(before_ids) and with_answer[: len(before_ids)] == before_ids:
            break
    else:
        return ()
    current = engine.prefill(before_ids, prefix=state) if before_ids else state
    logprobs = []
    answer_ids = with_answer[len(before_ids) :]
    for index, token in enumerate(answer_ids):
        if index:  # one token more after the state: the cache holds the rest
            current = engine.prefill(answer_ids[index - 1 : index], prefix=current)
        shifted = current.logits - current.logits.max()
        logprobs.append(float(shifted[token] - np.log(np.exp(shifted).sum())))
    return tuple(logprobs)
