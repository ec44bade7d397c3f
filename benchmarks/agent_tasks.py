"""The agent on a task set that needs tools or memory, in five configurations.

    python benchmarks/agent_tasks.py [--configs plain,tools,memory,recall,review] [--max-steps 4]
        [--store keyword | hybrid | MODULE:FACTORY] [--limit N] [--json FILE]

The real SmolLM2-135M-Instruct (the Q4_1 GGUF the tests use, quant f32), greedy, runs every
goal of benchmarks/data/agent_tasks.jsonl (written for this benchmark: unit conversions,
multi-step arithmetic, facts and rates that are only in the notes of
benchmarks/data/agent_notes/) as ``Agent(...).run(goal, max_steps=N)`` in each configuration:

- plain: no tools, no memory, no revision, no fallback: the model's constrained answer;
- tools: calculator and unit conversion; a draft the verifier fails is revised (at most
  twice) and an answer it does not verify falls back to the rule packs, where one answers;
- memory: the same, with the notes as memory (``search_memory``), searched by the model;
- recall: the same, and the runtime searches the memory for the goal before the first step;
- review: the same, and the model reviews each draft (a "no" is a revision too).

Reported per configuration: success (the final answer holds the expected number, or the
expected word, for the text answers), the model's own successes, the first drafts'
successes (before any revision or fallback), how many answers were verified and how many of
those were right, where the answers came from, mean steps, generated tokens and latency.

The memory is a keyword DocumentStore (SQLite FTS5) over the notes; ``--store hybrid``
adds all-MiniLM-L6-v2's vectors (hybrid search); ``--store MODULE:FACTORY`` plugs in
another: FACTORY(notes_folder, work_folder) returns an object with
``search(query, k) -> list[Passage]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.real_models import minilm_folder, smollm2_gguf  # noqa: E402

from edge_reason.engine import Engine  # noqa: E402
from edge_reason.reasoning.agent import Agent, AgentResult, Memory  # noqa: E402
from edge_reason.reasoning.arithmetic import evaluate, written_agrees  # noqa: E402
from edge_reason.reasoning.embedding_model import load_embedding_model  # noqa: E402
from edge_reason.reasoning.retrieval import DocumentStore  # noqa: E402
from edge_reason.reasoning.tools import ToolRegistry  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
CONFIGS = ("plain", "tools", "memory", "recall", "review")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def read_tasks(path: Path) -> list[dict[str, Any]]:
    """The task set: one JSON object a line (id, goal, expected or expected_text, needs)."""
    tasks = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            task = json.loads(line)
            if ("expected" in task) == ("expected_text" in task):
                raise ValueError(f"{path}:{n}: give exactly one of expected, expected_text")
            tasks.append(task)
    return tasks


def is_right(answer: str | None, task: dict[str, Any]) -> bool:
    """Whether ``answer`` holds the task's expected value: a number that agrees with the
    expected arithmetic (rounded to 2 or more places where it does not terminate), or the
    expected word, in any case."""
    if answer is None:
        return False
    if "expected_text" in task:
        return task["expected_text"].lower() in answer.lower()
    value = evaluate(task["expected"])
    return any(written_agrees(value, n.replace(",", "")) for n in _NUMBER.findall(answer))


def keyword_store(notes: Path, work: Path) -> Memory:
    store = DocumentStore(work / "notes.db")
    store.index_folder(notes)
    return store


def hybrid_store(notes: Path, work: Path) -> Memory:
    """The notes with all-MiniLM-L6-v2's vectors on the engine: hybrid search."""
    store = DocumentStore(work / "notes.db", embedding=load_embedding_model(minilm_folder()))
    store.index_folder(notes)
    return store


def store_factory(spec: str) -> Callable[[Path, Path], Memory]:
    if spec == "keyword":
        return keyword_store
    if spec == "hybrid":
        return hybrid_store
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--store must be keyword, hybrid or MODULE:FACTORY, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def make_agent(config: str, engine: Engine, memory: Memory) -> Agent:
    if config == "plain":
        return Agent(engine, tools=ToolRegistry(), review=False, max_revisions=0, rules=[])
    return Agent(
        engine,
        memory=memory if config in ("memory", "recall", "review") else None,
        recall_first=config in ("recall", "review"),
        review=config == "review",
    )


def summary(runs: list[tuple[dict[str, Any], AgentResult]]) -> dict[str, Any]:
    right = [is_right(r.answer, t) for t, r in runs]
    first = [bool(r.drafts) and is_right(r.drafts[0], t) for t, r in runs]
    verified = [r.verified for _, r in runs]
    return {
        "n": len(runs),
        "success": sum(right),
        "success_rate": sum(right) / len(runs),
        "model_success": sum(
            ok and r.source == "model" for ok, (_, r) in zip(right, runs, strict=True)
        ),
        "first_draft_success": sum(first),
        "verified": sum(verified),
        "verified_right": sum(v and ok for v, ok in zip(verified, right, strict=True)),
        "sources": dict(Counter(r.source for _, r in runs)),
        "stopped": dict(Counter(r.stopped for _, r in runs)),
        "revisions": sum(len(r.revisions) for _, r in runs),
        "mean_steps": statistics.mean(len(r.steps) for _, r in runs),
        "mean_tool_calls": statistics.mean(r.tool_calls for _, r in runs),
        "mean_tokens": statistics.mean(r.tokens for _, r in runs),
        "mean_latency_s": statistics.mean(r.time_ms / 1000 for _, r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--tasks", type=Path, default=DATA / "agent_tasks.jsonl")
    parser.add_argument("--notes", type=Path, default=DATA / "agent_notes")
    parser.add_argument("--store", default="keyword", help="keyword, hybrid or MODULE:FACTORY")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tasks = read_tasks(args.tasks)[: args.limit]
    configs = args.configs.split(",")
    if unknown := set(configs) - set(CONFIGS):
        raise SystemExit(f"unknown configurations {sorted(unknown)}: choose from {CONFIGS}")
    engine = Engine.load(smollm2_gguf(), quant="f32")
    results: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (quant f32), greedy",
        "store": args.store,
        "max_steps": args.max_steps,
        "tasks": args.tasks.name,
        "date": time.strftime("%Y-%m-%d"),
        "configs": {},
    }
    with tempfile.TemporaryDirectory() as work:
        memory = store_factory(args.store)(args.notes, Path(work))
        for config in configs:
            agent = make_agent(config, engine, memory)
            runs = []
            for task in tasks:
                result = agent.run(task["goal"], max_steps=args.max_steps)
                runs.append((task, result))
                mark = "✓" if is_right(result.answer, task) else "✗"
                print(
                    f"{config:>7} {mark} {task['id']}: {result.answer!r} ({result.source}, "
                    f"{'verified' if result.verified else 'unverified'}, {len(result.steps)} "
                    f"steps, {result.time_ms / 1000:.1f} s)",
                    flush=True,
                )
            results["configs"][config] = {
                **summary(runs),
                "runs": [{"id": t["id"], **r.to_dict()} for t, r in runs],
            }
            s = results["configs"][config]
            print(
                f"{config}: {s['success']}/{s['n']} right ({s['model_success']} the model's own, "
                f"{s['first_draft_success']} first drafts), {s['verified']} verified "
                f"({s['verified_right']} right), mean {s['mean_steps']:.1f} steps, "
                f"{s['mean_tokens']:.0f} tokens, {s['mean_latency_s']:.1f} s",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
