"""The reasoning layer: chains of thought that are checked, voted on, and backed by rules.

``Reasoner`` (reasoner.py) is the entry point; each other module holds one piece: answers,
answer extraction, exact arithmetic, the verifier, prompt formats (and chat prompts for a
chat model), self-consistency voting, tools, retrieval (with note citations and the notes'
context budget), the fallback policy and data readers.
"""

from __future__ import annotations

from .answer import Answer, Citation, Revision, Step, StepStatus

__all__ = ["Answer", "Citation", "Revision", "Step", "StepStatus"]
