"""What an agent run leaves behind: every step, the checks, and where the answer came from.

``AgentResult.format()`` (also ``str(result)``) is for people, ``to_json()`` for machines.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..answer import Revision, Step
from ..retrieval import Passage

STEP_KINDS = ("recall", "tool", "answer", "invalid", "review")
STOPS = ("answer", "step_limit", "time_budget", "error")


@dataclass(frozen=True)
class AgentStep:
    """One reply of the model and what the runtime made of it.

    kind: "recall" (the runtime's search of memory for the goal, before the model's first
    step), "tool" (a call, run), "answer" (a draft final answer), "invalid" (a reply that was
    no usable step: ``observation`` says why) or "review" (the model's check of a draft).
    ok: the call ran, the draft was accepted, the review passed. tokens: generated;
    prompt_tokens: the prompt's, as the reply counted them.
    """

    number: int
    kind: str
    thought: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str | None = None
    observation: str = ""
    ok: bool = True
    time_ms: float = 0.0
    tokens: int = 0
    prompt_tokens: int = 0
    text: str = ""  # the reply as the model wrote it

    def format(self) -> str:
        """The step in a few lines: what was done, then what came back."""
        cost = f"({self.time_ms:.0f} ms, {self.tokens} tokens)"
        if self.kind in ("recall", "tool"):
            head = f"{self.tool} {json.dumps(self.arguments, ensure_ascii=False)}"
            if self.kind == "recall":  # the runtime's search, not the model's
                head = f"recall: {head}"
        elif self.kind == "answer":
            head = f"answer: {self.answer}"
        elif self.kind == "review":
            head = f"review: {'yes' if self.ok else 'no'}"
        else:
            head = "invalid step"
        lines = [f"{self.number:>2}. {head}   {cost}"]
        if self.thought:
            lines.append(f"    thought: {self.thought}")
        if self.observation:
            mark = "→" if self.ok else "✗"
            shown = self.observation.replace("\n", "\n      ")
            lines.append(f"    {mark} {shown}")
        return "\n".join(lines)


@dataclass(frozen=True)
class AgentResult:
    """A run's outcome.

    answer: the final answer (None: nothing answered). source: "model", "rules" (a rule
    pack answered instead, as the policy allowed), "tool" (the calculator, for a goal that
    is plain arithmetic) or "none". verified: every check on the answer ran and held (the
    ``checks``, as the verifier marked them). stopped: why the loop ended ("answer",
    "step_limit", "time_budget", "error"). drafts: every answer the model drafted, in order;
    revisions: why each draft after the first was asked for. passages: what the memory
    returned, numbered as the answer cites them ([1] is the first).
    """

    goal: str
    answer: str | None
    source: str
    verified: bool
    reason: str
    stopped: str
    steps: tuple[AgentStep, ...] = ()
    checks: tuple[Step, ...] = ()
    drafts: tuple[str, ...] = ()
    revisions: tuple[Revision, ...] = ()
    passages: tuple[Passage, ...] = ()
    time_ms: float = 0.0

    @property
    def tokens(self) -> int:
        """Tokens the model generated in the whole run (reviews included)."""
        return sum(step.tokens for step in self.steps)

    @property
    def tool_calls(self) -> int:
        return sum(step.kind == "tool" for step in self.steps)

    def format(self) -> str:
        """The run for people: the goal, each step, the checks, the answer and its source."""
        lines = [f"goal: {self.goal}", *(step.format() for step in self.steps)]
        if self.checks:
            lines.append("checks:")
            for check in self.checks:
                detail = f"   ({check.detail})" if check.detail else ""
                lines.append(f"  {check.mark} {check.text}{detail}")
        lines.append(f"answer: {self.answer if self.answer is not None else '(none)'}")
        lines.append("verified" if self.verified else "not verified")
        lines.append(
            f"source: {self.source}   stopped: {self.stopped}   steps: {len(self.steps)}   "
            f"revisions: {len(self.revisions)}   tokens: {self.tokens}   "
            f"time: {self.time_ms / 1000:.1f} s"
        )
        lines.append(f"reason: {self.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (check statuses as strings), with the token total."""
        data = asdict(self)
        data["checks"] = [
            {"text": c.text, "status": c.status.value, "detail": c.detail} for c in self.checks
        ]
        return {**data, "tokens": self.tokens, "tool_calls": self.tool_calls}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
