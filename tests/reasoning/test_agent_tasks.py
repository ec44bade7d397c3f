"""The agent benchmark's task set (benchmarks/data/agent_tasks.jsonl) is well formed and
answerable: its expected values compute, and every fact a task needs from memory is in the
notes, where a keyword search for the goal finds it. And the agent on the real SmolLM2
(slow): the loop runs end to end and every step it records parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.real_models import smollm2_gguf

from edge_reason.reasoning.agent import Agent
from edge_reason.reasoning.arithmetic import evaluate
from edge_reason.reasoning.retrieval import DocumentStore

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
TASKS = [json.loads(line) for line in (DATA / "agent_tasks.jsonl").read_text().splitlines()]
NEEDS = {"memory", "calculator", "convert"}


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> DocumentStore:
    store = DocumentStore(tmp_path_factory.mktemp("agent") / "notes.db")
    store.index_folder(DATA / "agent_notes")
    return store


def test_the_task_set_is_large_enough_and_well_formed() -> None:
    assert len(TASKS) >= 20
    assert len({t["id"] for t in TASKS}) == len(TASKS)
    for task in TASKS:
        assert set(task["needs"]) <= NEEDS and task["needs"], task["id"]
        assert ("expected" in task) != ("expected_text" in task), task["id"]
        assert ("fact" in task) == ("memory" in task["needs"]), task["id"]
        if "expected" in task:
            evaluate(task["expected"])
    kinds = {need for task in TASKS for need in task["needs"]}
    assert kinds == NEEDS


@pytest.mark.parametrize(
    "task", [t for t in TASKS if "memory" in t["needs"]], ids=lambda t: t["id"]
)
def test_what_a_task_needs_from_memory_is_found_for_its_goal(task, notes) -> None:
    found = " ".join(" ".join(p.text.split()) for p in notes.search(task["goal"], 2))
    assert task["fact"] in found, (task["goal"], found)


@pytest.mark.slow
def test_the_agent_runs_end_to_end_on_smollm2(notes) -> None:
    from edge_reason.engine import Engine

    engine = Engine.load(smollm2_gguf(), quant="f32")
    agent = Agent(engine, memory=notes)
    result = agent.run(TASKS[0]["goal"], max_steps=4)
    assert result.steps and result.stopped in ("answer", "step_limit")
    # the runtime's search of the notes comes first; constrained to the step schema, every
    # reply after it is a step that parses
    assert result.steps[0].kind == "recall" and "12 litres" in result.steps[0].observation
    assert all(s.kind in ("tool", "answer", "review") for s in result.steps[1:]), str(result)
    assert result.source in ("model", "rules", "tool", "none")
    assert json.loads(result.to_json())["goal"] == TASKS[0]["goal"]
    assert str(result).startswith(f"goal: {TASKS[0]['goal']}")
    # a budget ends the run between steps, and bounds the step in progress
    short = agent.run(TASKS[0]["goal"], max_steps=8, budget_ms=2000)
    assert short.stopped in ("answer", "time_budget") and short.time_ms < 2000 + 5000
