"""A tool-using agent on the device: the model proposes steps, the runtime runs them.

    >>> from edge_reason import Engine
    >>> from edge_reason.reasoning.agent import Agent
    >>> from edge_reason.reasoning.retrieval import DocumentStore
    >>> engine = Engine.load("SmolLM2-135M-Instruct.Q4_1.gguf", quant="f32")
    >>> agent = Agent(engine, memory=DocumentStore("notes.db"))
    >>> result = agent.run("How many litres does the pump move in 3 hours?",
    ...                    max_steps=6, budget_ms=30_000)
    >>> print(result)              # every step, the checks, the answer and its source
    >>> result.answer, result.source, result.verified
    >>> result.to_json()           # the same, for machines

Each step is a JSON object held to a schema built from the tools (step_format.py): a call,
run by the ToolRegistry (calculator, unit conversion, ``search_memory`` over the memory,
user functions registered with a JSON schema), or a final answer, checked by the verifier
(answer_checks.py) and by the model's own review (review.py), and revised a bounded number
of times. The loop, its budget and the rule-pack fallback: loop.py, budget.py. What a run
records: record.py. The model and the memory are protocols (model.py): a scripted stand-in
or a hybrid retrieval store fits as well as the Engine and the DocumentStore.
"""

from __future__ import annotations

from .answer_checks import AnswerCheck, Observation, check_answer
from .loop import Agent
from .memory_tool import SEARCH_MEMORY
from .model import ChatModel, Memory
from .record import AgentResult, AgentStep
from .step_format import ProposedStep, parse_step, step_schema

__all__ = [
    "SEARCH_MEMORY",
    "Agent",
    "AgentResult",
    "AgentStep",
    "AnswerCheck",
    "ChatModel",
    "Memory",
    "Observation",
    "ProposedStep",
    "check_answer",
    "parse_step",
    "step_schema",
]
