"""Chains of the shipped model with and without the answer's form (issue 25).

    python benchmarks/constrained_answers.py [--per-task 20] [--redraws 3] [--data DIR]
                                             [--json FILE]

Questions: the first ``--per-task`` validation questions of each bAbI task and of each
addition length (the babi_arith recipe's held-out split: the last tenth of each training
file, read from ../shared/data), and as many 4-digit additions (one digit more than training
saw), asked in the formats the shipped bundle declares. Per question, with the answer's form
(answer_constraint.py) and without it:

* the greedy chain, as the direct strategy draws it (``ChainGenerator``, tool pauses
  served) and as cot draws it (``ChainSearch``'s first chain): with and without must be
  token-identical wherever the unconstrained chain ended in a well-formed answer (its
  marker, then an answer of the form, then the end); the rest are listed;
* ``--redraws`` more chains from the search (cot's redraws) and as many samples at the
  policy's temperature (self-consistency's): the share of all chains whose answer
  ``extract_answer`` cannot read;
* the time per generated token of the greedy chains (ChainGenerator, the two variants
  interleaved question by question, the order alternating), each drawn twice: the first
  builds the question's grammar (its llguidance matcher), the second shows the decode
  overhead alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from edge_reason.export.recipes.babi_arith.addition import longer_additions, read_additions
from edge_reason.export.recipes.babi_arith.documents import addition_problem
from edge_reason.export.recipes.babi_arith.split import babi_files, carve
from edge_reason.export.recipes.babi_arith.stories import read_stories

from edge_reason.default_model import load_default_engine
from edge_reason.reasoning.answer_constraint import plan_answer
from edge_reason.reasoning.datasets import Problem
from edge_reason.reasoning.extract import extract_answer
from edge_reason.reasoning.generation import ChainGenerator
from edge_reason.reasoning.reasoner import Reasoner
from edge_reason.reasoning.search import ChainSearch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ADDITIONS = "arithmetic/scratchpad/add_examples_algorithmic.txt"


def validation_problems(data: Path, per_task: int) -> list[Problem]:
    problems: list[Problem] = []
    for path in babi_files(data):
        stories = read_stories(path)
        held = stories[carve(stories, 0.1) :]
        problems += [p for story in held for p in story.problems()][:per_task]
    additions = read_additions(data / ADDITIONS)[:5000]  # as the recipe's data settings
    by_digits = defaultdict(list)
    for addition in additions[carve(additions, 0.1) :]:
        by_digits[addition.digits].append(addition)
    for digits in sorted(by_digits):
        problems += [addition_problem(a) for a in by_digits[digits][:per_task]]
    problems += [addition_problem(a) for a in longer_additions(4, per_task, seed=0)]
    return problems


class Recorder:
    """The engine, recording the token ids of every generate call."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def generate(self, *args, **kwargs):
        result = self.engine.generate(*args, **kwargs)
        self.calls.append(list(result.token_ids))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-task", type=int, default=20)
    parser.add_argument("--redraws", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    engine = load_default_engine()
    recorder = Recorder(engine)
    reasoner = Reasoner(engine)
    problems = validation_problems(args.data, args.per_task)
    counts: Counter[str] = Counter()
    changed: list[dict[str, str]] = []
    seconds: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for index, problem in enumerate(problems):
        prompt_format = reasoner.formats["babi" if problem.context else "gsm8k"]
        form = plan_answer(prompt_format, problem.question, problem.context)
        assert form is not None
        prompt = prompt_format.render(problem.question, problem.context)
        variants = {"free": None, "constrained": form}
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        greedy, search_chains = {}, {}
        for name in order:
            generator = ChainGenerator(
                recorder, reasoner.tools, reasoner.policy.rates, variants[name]
            )
            state = generator.prefill(prompt + prompt_format.chain_cue)
            for run in ("first", "again"):  # the first builds the question's grammar
                recorder.calls = []
                start = time.perf_counter()
                chain = generator.generate(
                    state,
                    max_new_tokens=prompt_format.max_new_tokens,
                    temperature=0.0,
                    seed=None,
                    stop=prompt_format.stop,
                )
                seconds[f"{name} {run}"] += time.perf_counter() - start
                tokens[f"{name} {run}"] += chain.tokens
            greedy[name] = (chain.text, [t for call in recorder.calls for t in call])
            search = ChainSearch(
                generator,
                state,
                max_new_tokens=prompt_format.max_new_tokens,
                stop=prompt_format.stop,
            )
            drawn = [search.next() for _ in range(1 + args.redraws)]
            search_chains[name] = [c for c in drawn if c is not None]
            samples = [
                generator.generate(
                    state,
                    max_new_tokens=prompt_format.max_new_tokens,
                    temperature=reasoner.policy.temperature,
                    seed=seed,
                    stop=prompt_format.stop,
                ).text
                for seed in range(args.redraws)
            ]
            for text in [greedy[name][0], *(c.text for c in search_chains[name]), *samples]:
                counts[f"{name} chains"] += 1
                counts[f"{name} unparsed"] += (
                    extract_answer(text, prompt_format.answer_form) is None
                )
        for path, (free, constrained) in {
            "generator": (greedy["free"], greedy["constrained"]),
            "search": (
                (search_chains["free"][0].text, search_chains["free"][0].tokens),
                (search_chains["constrained"][0].text, search_chains["constrained"][0].tokens),
            ),
        }.items():
            well_formed = form.finished(free[0])
            counts[f"{path} well-formed"] += well_formed
            counts[f"{path} identical"] += free == constrained
            if well_formed and free != constrained:
                counts[f"{path} well-formed but changed"] += 1
            if not well_formed:
                changed.append(
                    {
                        "path": path,
                        "where": problem.where.replace(f"{args.data}/", ""),
                        "task": problem.task,
                        "free": free[0][-60:],
                        "constrained": constrained[0][-60:],
                        "free_answer": extract_answer(free[0], prompt_format.answer_form),
                        "gold": problem.answer,
                    }
                )
        print(f"\r{index + 1}/{len(problems)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    per_token = {k: 1000.0 * seconds[k] / max(tokens[k], 1) for k in sorted(seconds)}
    ratios = {
        run: per_token[f"constrained {run}"] / per_token[f"free {run}"]
        for run in ("first", "again")
    }
    questions_seconds = seconds["constrained first"] - seconds["constrained again"]
    free_seconds = seconds["free first"] - seconds["free again"]
    report = {
        "questions": len(problems),
        "counts": dict(counts),
        "unparsed_share": {
            k: counts[f"{k} unparsed"] / counts[f"{k} chains"] for k in ("free", "constrained")
        },
        "greedy_ms_per_token": per_token,
        "greedy_tokens": dict(tokens),
        # constrained / free time per token: a question's first chain (which builds its
        # grammar's matcher) and the same chain again (the decode overhead alone)
        "overhead_ratio": ratios,
        "grammar_ms_per_question": 1000.0 * (questions_seconds - free_seconds) / len(problems),
        "not_well_formed_unconstrained": changed,
    }
    summary = {k: v for k, v in report.items() if k != "not_well_formed_unconstrained"}
    print(json.dumps(summary, indent=1))
    for entry in changed:
        print(json.dumps(entry))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
