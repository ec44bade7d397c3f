"""Self-consistency's k chains decoded as one batch, against one greedy chain.

    python benchmarks/self_consistency_batch.py [--shape qwen2.5-0.5b] [--quant int4]
        [--samples 8] [--tokens 64] [--rounds 5] [--json FILE]

The reasoning layer's ChainGenerator makes the chains (no tools, no answer form): one
greedy chain after a prompt, and k sampled chains after the same prefilled prompt with
generate_many, which decodes them together (Engine.generate_batch); the model is a
random-weight one of a real shape (benchmarks/bench_engine.py builds and caches it), so no
chain ends before --tokens. The two alternate within each round; reported: the median
wall time of each (prefill excluded: the prompt state is made once) and their ratio, the
issue's target being k = 8 chains of 64 tokens in at most 2x one chain's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import model_dir  # noqa: E402

from edge_reason import Engine  # noqa: E402
from edge_reason.reasoning.generation import ChainGenerator  # noqa: E402
from edge_reason.reasoning.policy import TokenRates  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="qwen2.5-0.5b")
    parser.add_argument("--quant", default="int4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = Engine.load(model_dir(args.shape), quant=args.quant, threads=args.threads)
    generator = ChainGenerator(engine, None, TokenRates())
    vocab = engine.config.vocab_size
    prompt = [1000 + (i * 7919) % (vocab - 2000) for i in range(96)]
    options = dict(max_new_tokens=args.tokens, stop=())
    times: dict[str, list[float]] = {"one greedy chain": [], f"{args.samples} chains": []}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        order = list(times) if round_ % 2 else list(reversed(times))
        for name in order:
            state = engine.prefill(prompt)
            start = time.perf_counter()
            if name == "one greedy chain":
                chains = [generator.generate(state, temperature=0.0, seed=None, **options)]
            else:
                seeds = list(range(args.samples))
                chains = generator.generate_many(state, seeds=seeds, temperature=0.7, **options)
            seconds = time.perf_counter() - start
            if any(chain.tokens != args.tokens for chain in chains):
                raise SystemExit(f"a chain ended early: {[c.tokens for c in chains]}")
            if round_:
                times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    one, many = medians.values()
    report = {
        "shape": args.shape,
        "quant": args.quant,
        "threads": args.threads,
        "samples": args.samples,
        "tokens": args.tokens,
        "kernel": engine.info()["kernel"],
        "when": time.strftime("%Y-%m-%d"),
        "seconds": medians,
        "seconds_rounds": times,
        "ratio": many / one,
    }
    for name, seconds in medians.items():
        print(f"{name:18s} {seconds:6.2f} s")
    print(f"ratio {many / one:.2f}x (target <= 2x)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
