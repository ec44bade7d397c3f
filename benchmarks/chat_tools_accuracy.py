"""A chat model's accuracy through the Reasoner with its tools offered as chat tools, or not.

    python benchmarks/chat_tools_accuracy.py [--choices none,auto,required] [--gsm8k N]
        [--no-words] [--data ../shared/data] [--json FILE]

The real SmolLM2-135M-Instruct (the Q4_1 GGUF the tests use, quant f32) is asked each
question through ``Reasoner(engine, tool_choice=C).ask(q, strategy="cot")`` for every C:
"none" (tools not offered: the model computes in its text, the verifier checks it), "auto"
(calculator and unit conversion offered; the model may call) and "required" (its first reply
must call). Questions: 20 one- and two-step arithmetic word problems written here (numbers
a 135M model does not know by heart), and with ``--gsm8k N`` the first N problems of a
validation split carved from GSM8K's training file (its last 10%; the test split is never
read). Reported per choice: accuracy (all answers, and answers that are the model's own:
the Reasoner falls back to rule packs when it rejects the model's), where the answers came
from, the chains' tool calls, and the mean latency. Greedy decoding: a rerun gives the same
answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.real_models import smollm2_gguf  # noqa: E402

from edge_reason import Reasoner  # noqa: E402
from edge_reason.engine import Engine  # noqa: E402
from edge_reason.reasoning.datasets import Problem, read_gsm8k  # noqa: E402
from edge_reason.reasoning.evaluation import EvalReport  # noqa: E402

WORD_PROBLEMS = [
    ("A farmer has 347 sheep and buys 128 more. How many sheep does he have now?", "475"),
    ("A school has 24 classes with 31 students in each. How many students are there?", "744"),
    ("A shop sold 1250 pens on Monday and 875 on Tuesday. How many pens did it sell?", "2125"),
    ("A train travels 86 km each hour. How many km does it travel in 7 hours?", "602"),
    ("Maria had 900 stamps and gave away 367. How many stamps does she have left?", "533"),
    ("A box holds 48 crayons. How many crayons are in 15 boxes?", "720"),
    ("630 apples are shared equally among 18 baskets. How many apples are in each basket?", "35"),
    ("A cinema has 23 rows of 42 seats. How many seats does it have?", "966"),
    ("Tom earns 156 dollars a week. How many dollars does he earn in 12 weeks?", "1872"),
    ("A tank holds 2400 liters and 975 liters are used. How many liters are left?", "1425"),
    ("A bakery makes 135 loaves a day. How many loaves does it make in 6 days?", "810"),
    ("A book has 384 pages and Anna has read 159 of them. How many pages are left?", "225"),
    ("There are 27 boxes with 36 oranges in each. How many oranges are there?", "972"),
    ("1728 books fill 16 shelves equally. How many books are on each shelf?", "108"),
    ("A bus carries 53 people on each trip. How many people does it carry in 14 trips?", "742"),
    ("Sam buys 3 shirts at 17 dollars each and a hat for 12 dollars. What does he spend?", "63"),
    ("A garden has 12 rows of 25 tulips and 8 rows of 15 roses. How many flowers in all?", "420"),
    ("A baker has 500 eggs and uses 36 eggs a day for 9 days. How many eggs are left?", "176"),
    ("Lucy saves 45 dollars a month for 8 months, then spends 95. How much does she have?", "265"),
    ("A truck carries 4 crates of 125 bottles and 68 bottles break. How many are whole?", "432"),
]


def word_problems() -> list[Problem]:
    return [
        Problem(question, answer, f"word problem {n}", task="word")
        for n, (question, answer) in enumerate(WORD_PROBLEMS, start=1)
    ]


def gsm8k_validation(data: Path, n: int) -> list[Problem]:
    problems = read_gsm8k(data / "gsm8k" / "train.jsonl")
    held_out = problems[int(len(problems) * 0.9) :]
    return [
        Problem(p.question, p.answer, p.where, solution=p.solution, task="gsm8k")
        for p in held_out[:n]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--choices", default="none,auto,required")
    parser.add_argument("--gsm8k", type=int, default=0, help="GSM8K validation problems to add")
    parser.add_argument("--no-words", action="store_true", help="leave the word problems out")
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=data)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    problems = [] if args.no_words else word_problems()
    problems += gsm8k_validation(args.data, args.gsm8k) if args.gsm8k else []
    engine = Engine.load(smollm2_gguf(), quant="f32")
    calls = {"replies": 0, "with_calls": 0, "calls": 0}
    chat = engine.chat

    def counted_chat(*a, **k):  # counts the replies and their tool calls
        reply = chat(*a, **k)
        calls["replies"] += 1
        calls["with_calls"] += bool(reply.tool_calls)
        calls["calls"] += len(reply.tool_calls)
        return reply

    engine.chat = counted_chat
    results = {}
    for choice in args.choices.split(","):
        reasoner = Reasoner(engine, tool_choice=choice)
        calls.update(replies=0, with_calls=0, calls=0)
        reports = {task: EvalReport("cot") for task in dict.fromkeys(p.task for p in problems)}
        model_right = dict.fromkeys(reports, 0)
        answers = []
        for problem in problems:
            start = time.perf_counter()
            answer = reasoner.ask(problem.question, strategy="cot")
            reports[problem.task].score(problem, answer)
            right = answer.answer is not None and answer.answer.replace(",", "") == problem.answer
            model_right[problem.task] += right and answer.source == "model"
            answers.append(
                {
                    "where": problem.where,
                    "gold": problem.answer,
                    "answer": answer.answer,
                    "source": answer.source,
                    "right": right,
                    "steps": [s.text for s in answer.steps],
                    "seconds": round(time.perf_counter() - start, 2),
                }
            )
            mark = "✓" if right else "✗"
            print(f"{choice:>8} {mark} {problem.where}: {answer.answer!r} ({answer.source})")
        results[choice] = {
            "tasks": {
                task: {
                    **{k: r.to_dict()[k] for k in ("accuracy", "n", "correct", "sources")},
                    "model_correct": model_right[task],
                    "mean_latency_s": r.latency_ms / 1000 / r.n,
                }
                for task, r in reports.items()
            },
            "chat_replies": calls["replies"],
            "replies_with_calls": calls["with_calls"],
            "tool_calls": calls["calls"],
            "answers": answers,
        }
        for task, r in reports.items():
            print(
                f"{choice}: {task} {r.correct}/{r.n} right ({model_right[task]} the model's own), "
                f"sources {dict(r.sources)}, mean {r.latency_ms / 1000 / r.n:.1f} s"
            )
        print(f"{choice}: {calls['with_calls']} of {calls['replies']} replies called a tool")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
