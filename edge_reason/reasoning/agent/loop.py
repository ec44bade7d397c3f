"""The agent loop: the model proposes a step, the runtime runs it, until an answer.

Each round the model is shown the goal, the tools and the latest steps with what they
returned, and writes one step under the step schema (step_format.py): a tool call, which
the runtime runs through the ToolRegistry (a failing call's error is the observation, and
the loop goes on), or a draft answer. A draft is checked by the verifier (answer_checks.py)
and, with review on, by the model itself (review.py); a failed check or a "no" sends it
back with the reason, at most ``max_revisions`` times. The loop ends at an accepted answer,
``max_steps`` steps or the end of ``budget_ms`` (budget.py), whichever comes first. With a
memory, the runtime first searches it for the goal itself (a "recall" step, not counted
against max_steps) and shows what it found as if the model had asked. An
answer the policy rejects (no answer, or one the verifier did not verify) is replaced by a
rule pack's, where one answers the goal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from edge_reason.errors import EdgeReasonError

from ..answer import Revision
from ..chat_tools import call_line
from ..errors import ToolError
from ..policy import Policy
from ..tools import ToolRegistry
from .answer_checks import AnswerCheck, Observation, check_answer
from .budget import StepBudget
from .memory_tool import QUERY_CHARS, SEARCH_MEMORY, ObservedPassages
from .model import ChatModel, Memory, Reply
from .record import AgentResult, AgentStep
from .review import RESPONSE_FORMAT as REVIEW_FORMAT
from .review import Verdict, parse_verdict, review_messages
from .step_format import (
    STEP_TOKENS,
    ProposedStep,
    describe_tools,
    parse_step,
    response_format,
    step_text,
)

if TYPE_CHECKING:
    from ..reasoner import RulesSpec

MAX_STEPS = 8
REVIEW_TOKENS = 64
ANSWER_FORM = '{"answer": "...", "thought": "..."}.'
HISTORY_STEPS = 6  # earlier steps fall out of the prompt; the goal never does
NEXT_STEP = "If the observation answers the goal, give the final answer; else call a tool."
FINAL_STEP = "Give the final answer now."


@dataclass
class _Run:
    """One run's state: what happened so far and what the model is shown of it."""

    goal: str
    max_steps: int
    tools: ToolRegistry
    budget: StepBudget
    passages: ObservedPassages | None
    steps: list[AgentStep] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    # (the model's step as JSON, what the runtime answered), oldest first
    exchanges: list[tuple[str, str]] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    check: AnswerCheck | None = None
    stopped: str = "step_limit"
    error: str = ""
    repeated: bool = False  # the last call repeated an earlier one: time to answer

    @property
    def moves(self) -> int:
        """Steps that count against max_steps (the model's; reviews do not)."""
        return sum(step.kind not in ("recall", "review") for step in self.steps)


class Agent:
    """A tool-using loop over a chat model, checked by the verifier.

    engine: a chat model (an Engine; anything with ``chat`` as model.py describes).
    tools: the ToolRegistry the model may call (default: calculator and unit conversion;
    register user functions on it with their JSON schema). memory: a store searched by the
    ``search_memory`` tool (anything with ``search(query, k) -> list[Passage]``).
    policy: decides when a rule pack's answer replaces the model's; its ``max_revisions``
    bounds the revisions unless ``max_revisions`` is given. rules: the packs for that
    fallback (as Reasoner takes them; default: the built-in question packs; [] for none).
    review: ask the model to review each draft answer. recall_first: search the memory for
    the goal before the model's first step (measured: SmolLM2-135M searched its memory in 2
    runs of 24 whose goal needed it, docs/agent.md). clock: the time source (tests).
    """

    def __init__(
        self,
        engine: ChatModel,
        *,
        tools: ToolRegistry | None = None,
        memory: Memory | None = None,
        policy: Policy | None = None,
        rules: RulesSpec | None = None,
        review: bool = True,
        recall_first: bool = True,
        max_revisions: int | None = None,
        temperature: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        from ..reasoner import Reasoner

        if not callable(getattr(engine, "chat", None)):
            raise TypeError(f"engine must be a chat model (with .chat), got {engine!r}")
        self.engine = engine
        self.tools = tools if tools is not None else ToolRegistry.default()
        self.memory = memory
        self.policy = policy if policy is not None else Policy()
        if max_revisions is not None and (not isinstance(max_revisions, int) or max_revisions < 0):
            raise ValueError(f"max_revisions must be an integer >= 0, got {max_revisions!r}")
        self.max_revisions = self.policy.max_revisions if max_revisions is None else max_revisions
        self.review = review
        self.recall_first = recall_first
        self.temperature = temperature
        self.clock = clock
        # a Reasoner without a model answers from the rule packs and the calculator only
        self._rules = Reasoner(None, rules=rules, tools=self.tools)

    def run(
        self, goal: str, *, max_steps: int = MAX_STEPS, budget_ms: float | None = None
    ) -> AgentResult:
        """Work towards ``goal`` for at most ``max_steps`` steps and ``budget_ms`` ms."""
        if not isinstance(goal, str) or not goal.strip():
            raise ValueError("goal must be non-empty text")
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        run = self._start(goal.strip(), max_steps, budget_ms)
        if run.passages is not None and self.recall_first:
            self._recall(run)
        system = _system_prompt(run.tools)
        any_step = response_format(run.tools)
        answer_step = response_format(run.tools, answer_only=True)
        while run.moves < run.max_steps:
            tokens = run.budget.step_tokens(STEP_TOKENS)
            if tokens is None:
                run.stopped = "time_budget"
                break
            # the last step, or the one after a call that repeated an earlier one, must answer
            must_answer = run.moves == run.max_steps - 1 or run.repeated
            messages = _messages(system, run, must_answer)
            reply, ms = self._ask(run, messages, answer_step if must_answer else any_step, tokens)
            if reply is None:
                break
            proposed = parse_step(reply.text)
            if proposed.error is not None:
                self._invalid(run, proposed, reply, ms)
                if reply.finish_reason == "time":
                    run.stopped = "time_budget"
                    break
            elif proposed.answer is None:
                self._call(run, proposed, reply, ms)
            elif self._draft(run, proposed, reply, ms):
                run.stopped = "answer"
                break
        return self._result(run)

    # ---- the steps ---------------------------------------------------------------------

    def _start(self, goal: str, max_steps: int, budget_ms: float | None) -> _Run:
        passages = ObservedPassages(self.memory) if self.memory is not None else None
        # this run's tools; the memory's first (measured: a small model favours the first)
        tools = ToolRegistry()
        if passages is not None:
            tools.register(passages.tool())
        for tool in self.tools:
            tools.register(tool)
        return _Run(goal, max_steps, tools, StepBudget(budget_ms, self.clock), passages)

    def _recall(self, run: _Run) -> None:
        """Search the memory for the goal, shown to the model as its own first call."""
        call = ProposedStep(tool=SEARCH_MEMORY, arguments={"query": run.goal[:QUERY_CHARS]})
        start = self.clock()
        result, ok = _run_tool(run.tools, call)
        run.observations.append(Observation(SEARCH_MEMORY, call.arguments, result, ok))
        step = AgentStep(
            number=len(run.steps) + 1,
            kind="recall",
            tool=SEARCH_MEMORY,
            arguments=call.arguments,
            observation=result,
            ok=ok,
            time_ms=1000.0 * (self.clock() - start),
        )
        run.steps.append(step)
        run.exchanges.append((step_text(call), f"Observation: {result}"))

    def _ask(
        self, run: _Run, messages: list[dict[str, Any]], fmt: dict[str, Any], tokens: int
    ) -> tuple[Reply | None, float]:
        """The model's reply within the budget, and its milliseconds; None if it failed."""
        options: dict[str, Any] = {
            "response_format": fmt,
            "max_new_tokens": tokens,
            "temperature": self.temperature,
        }
        left = run.budget.left_s()
        if left is not None:
            options["time_limit_s"] = max(left, 1e-3)
        start = self.clock()
        try:
            reply = self.engine.chat(messages, **options)
        except (EdgeReasonError, ValueError) as error:  # e.g. the prompt outgrew the context
            run.stopped, run.error = "error", str(error)
            return None, 0.0
        run.budget.record(reply)
        return reply, 1000.0 * (self.clock() - start)

    def _record(self, run: _Run, reply: Reply, ms: float, **fields: Any) -> AgentStep:
        step = AgentStep(
            number=len(run.steps) + 1,
            time_ms=ms,
            tokens=reply.stats.generated_tokens,
            prompt_tokens=reply.stats.prompt_tokens,
            text=reply.text,
            **fields,
        )
        run.steps.append(step)
        return step

    def _invalid(self, run: _Run, proposed: ProposedStep, reply: Reply, ms: float) -> None:
        cut = {"time": " (cut off by the time budget)", "length": " (cut off: too long)"}
        why = f"{proposed.error}{cut.get(reply.finish_reason, '')}"
        self._record(
            run, reply, ms, kind="invalid", thought=proposed.thought, observation=why, ok=False
        )
        run.exchanges.append((reply.text, f"That was no valid step: {why}."))

    def _call(self, run: _Run, proposed: ProposedStep, reply: Reply, ms: float) -> None:
        assert proposed.tool is not None
        run.repeated = any(
            (o.tool, o.arguments) == (proposed.tool, proposed.arguments) for o in run.observations
        )
        start = self.clock()
        result, ok = _run_tool(run.tools, proposed)
        ms += 1000.0 * (self.clock() - start)
        run.observations.append(Observation(proposed.tool, proposed.arguments, result, ok))
        self._record(
            run,
            reply,
            ms,
            kind="tool",
            thought=proposed.thought,
            tool=proposed.tool,
            arguments=proposed.arguments,
            observation=result,
            ok=ok,
        )
        run.exchanges.append((step_text(proposed), f"Observation: {result}"))

    def _draft(self, run: _Run, proposed: ProposedStep, reply: Reply, ms: float) -> bool:
        """Check a draft answer; True when it stands (accepted, or no revision is left)."""
        assert proposed.answer is not None
        run.repeated = False
        run.drafts.append(proposed.answer)
        passages = run.passages.passages if run.passages is not None else []
        run.check = check = check_answer(run.goal, proposed.answer, run.observations, passages)
        checked = (
            "verified"
            if check.verified
            else f"check failed: {check.failure}"
            if check.failure
            else "not checked"
        )
        self._record(
            run,
            reply,
            ms,
            kind="answer",
            thought=proposed.thought,
            answer=proposed.answer,
            observation=checked,
            ok=check.failure is None,
        )
        rejection: Revision | None = None
        if check.failure is not None:
            rejection = Revision("verifier", check.failure)
        elif self.review:
            verdict = self._review(run, proposed.answer)
            if verdict is not None and not verdict.passed:
                rejection = Revision("review", verdict.reason or "the review said no")
        no_step_left = run.moves >= run.max_steps
        if rejection is None or no_step_left or len(run.revisions) >= self.max_revisions:
            return True
        run.revisions.append(rejection)
        run.exchanges.append(
            (step_text(proposed), f"Your answer was not accepted: {rejection.failure}.")
        )
        return False

    def _review(self, run: _Run, draft: str) -> Verdict | None:
        """The model's review of ``draft`` (None: no time was left for one)."""
        tokens = run.budget.step_tokens(REVIEW_TOKENS)
        if tokens is None:
            return None
        seen = [call_line(o.tool, o.arguments, o.result, o.ok) for o in run.observations]
        reply, ms = self._ask(run, review_messages(run.goal, draft, seen), REVIEW_FORMAT, tokens)
        if reply is None:  # the draft stands; run.error says why the review failed
            return None
        verdict = parse_verdict(reply.text)
        self._record(run, reply, ms, kind="review", observation=verdict.reason, ok=verdict.passed)
        return verdict

    # ---- the outcome -------------------------------------------------------------------

    def _result(self, run: _Run) -> AgentResult:
        answer = run.drafts[-1] if run.drafts else None
        check = run.check
        verified = answer is not None and check is not None and check.verified
        if answer is None:
            why = {"time_budget": "the time budget ran out", "error": run.error}
            rejection: str | None = (
                "the agent gave no answer ("
                + why.get(run.stopped, f"{run.moves} steps without one")
                + ")"
            )
        else:
            failure = (check.failure if check else None) or "the answer could not be checked"
            rejection = self.policy.rejection(
                chains=1, verified=int(verified), confidence=1.0, failure=failure
            )
        result = AgentResult(
            goal=run.goal,
            answer=answer,
            source="model" if answer is not None else "none",
            verified=verified,
            reason=rejection or "the model's answer, accepted",
            stopped=run.stopped,
            steps=tuple(run.steps),
            checks=check.verification.steps if check is not None else (),
            drafts=tuple(run.drafts),
            revisions=tuple(run.revisions),
            passages=tuple(run.passages.passages) if run.passages is not None else (),
        )
        if rejection is not None:
            result = self._fall_back(result, rejection, run.budget)
        return replace(result, time_ms=run.budget.elapsed_ms())

    def _fall_back(self, result: AgentResult, rejection: str, budget: StepBudget) -> AgentResult:
        """A rule pack's (or the calculator's) answer in place of ``result``'s, if one
        answers; otherwise ``result`` with the reason."""
        left = budget.left_s()
        budget_ms = None if left is None else max(1000.0 * left, 1.0)
        found = self._rules.ask(result.goal, budget_ms=budget_ms)
        if found.answer is None:
            kept = "kept the model's answer" if result.answer is not None else "nothing answered"
            return replace(result, reason=f"{rejection}; no rule pack answered: {kept}")
        how = found.reason.removeprefix("no model loaded; ")
        return replace(
            result,
            answer=found.answer,
            source=found.source,
            verified=found.verified,
            checks=found.steps,
            reason=f"{rejection}; {how}",
        )


def _run_tool(tools: ToolRegistry, call: ProposedStep) -> tuple[str, bool]:
    """The call's result, or its error as the observation (the loop goes on)."""
    assert call.tool is not None
    try:
        return tools.call(call.tool, call.arguments), True
    except ToolError as error:
        return f"error: {error}", False


def _system_prompt(tools: ToolRegistry) -> str:
    if not len(tools):
        return "Answer the user's goal. Reply with one JSON object: " + ANSWER_FORM
    return (
        "You reach the user's goal in steps. Each reply is one JSON object: a tool call "
        '{"thought": "...", "tool": "<name>", "arguments": {...}} or the final answer '
        f"{ANSWER_FORM}\nTools:\n"
        f"{describe_tools(tools)}\n"
        "Use a tool for every calculation and to look up facts you are not given. Give the "
        "final answer, with its unit, once an observation holds it."
    )


def _messages(system: str, run: _Run, must_answer: bool) -> list[dict[str, Any]]:
    """The prompt of the next step: the tools, the goal, the latest exchanges, and the goal
    again after them (a small model loses what scrolled far up)."""
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Goal: {run.goal}"},
    ]
    exchanges = run.exchanges[-HISTORY_STEPS:]
    for n, (step, answer) in enumerate(exchanges, start=1):
        ask = NEXT_STEP if n < len(exchanges) or not must_answer else FINAL_STEP
        messages.append({"role": "assistant", "content": step})
        messages.append({"role": "user", "content": f"{answer}\nGoal: {run.goal}\n{ask}"})
    return messages
