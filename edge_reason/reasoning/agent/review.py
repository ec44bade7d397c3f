"""Self-review: the model judges its draft answer against the goal and what it observed.

The reply is held to a small schema, ``{"verdict": "yes" | "no", "reason": "..."}``, so a
small model answers in a form that parses; "no" sends the draft back for revision with the
reason, within the agent's revision bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

REASON_CHARS = 120
SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["yes", "no"]},
        "reason": {"type": "string", "maxLength": REASON_CHARS},
    },
    "required": ["verdict", "reason"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "},
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "review", "schema": SCHEMA}}
SYSTEM = (
    "You check a draft answer. Read the goal and the observations, then reply with JSON: "
    '{"verdict": "yes" or "no", "reason": "..."}. Say "no" when the draft does not answer '
    "the goal or disagrees with the observations."
)


@dataclass(frozen=True)
class Verdict:
    """The review's outcome: whether the draft passed, and why (or why the reply was not
    a review)."""

    passed: bool
    reason: str


def review_messages(goal: str, draft: str, observations: Sequence[str]) -> list[dict[str, Any]]:
    """The conversation that asks for a review of ``draft``."""
    seen = "\n".join(f"- {line}" for line in observations) or "- (none)"
    question = (
        f"Goal: {goal}\nObservations:\n{seen}\nDraft answer: {draft}\n"
        "Does the draft answer the goal, in agreement with the observations?"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def parse_verdict(text: str) -> Verdict:
    """The verdict in ``text``; a reply that is no review passes the draft (the review
    could not judge it, and the verifier's checks stand)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Verdict(True, "the review did not parse: the draft stands")
    if not isinstance(data, dict) or data.get("verdict") not in ("yes", "no"):
        return Verdict(True, "the review gave no verdict: the draft stands")
    reason = data.get("reason")
    return Verdict(data["verdict"] == "yes", reason if isinstance(reason, str) else "")
