"""Decode speed with and without structured output, on the real SmolLM2-135M and Qwen2.5-0.5B.

    python benchmarks/structured_output_overhead.py [--rounds 5] [--tokens 64] [--json FILE]

Models: SmolLM2-135M-Instruct (the Q4_1 GGUF the tests use, engine defaults) and a
random-weight Qwen2.5-0.5B loaded as int4 (as benchmarks/bench_engine.py builds it) with a
151,936-token byte-level BPE of Qwen2.5's size in place of its placeholder vocabulary
(benchmarks/structured_output_libraries.py: qwen_sized), so the masks cost what a real
vocabulary's do. Three variants run in alternating rounds, each max_new_tokens from the
same prompt, greedy: "plain" (no processor: the engine samples its own logits), "no-op
processor" (logits copied out and back, the hook's cost alone) and "json schema" (an
array of at least 100 small objects: the grammar never lets it end early). Reported:
median decode tokens/s of each and the ratio json schema / plain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_engine import model_dir  # noqa: E402
from helpers.real_models import smollm2_gguf  # noqa: E402
from structured_output_libraries import qwen_sized  # noqa: E402

from edge_reason import Engine  # noqa: E402

SCHEMA = {
    "type": "array",
    "minItems": 100,
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 24},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 3},
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    },
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "people", "schema": SCHEMA}}


def noop(token_ids, logits):
    return None


VARIANTS = {
    "plain": {},
    "no-op processor": {"logit_processors": [noop]},
    "json schema": {"response_format": FORMAT},
}


def engines() -> dict[str, tuple[Engine, list[int]]]:
    small = Engine.load(smollm2_gguf())
    qwen = Engine.load(model_dir("qwen2.5-0.5b"), quant="int4")
    qwen._tokenizer = qwen_sized(small.tokenizer)  # a real-shaped 152k vocabulary
    prompt = small.encode("List the people in the club as JSON:")
    return {
        "SmolLM2-135M Q4_1 (GGUF)": (small, prompt),
        "Qwen2.5-0.5B int4 (random)": (qwen, prompt),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    models = engines()
    rates: dict[str, dict[str, list[float]]] = {m: {v: [] for v in VARIANTS} for m in models}
    for engine, prompt in models.values():  # warm-up: caches, the grammar's tokenizer
        for options in VARIANTS.values():
            engine.generate(prompt, max_new_tokens=4, **options)
    for r in range(args.rounds):
        for model, (engine, prompt) in models.items():
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                g = engine.generate(prompt, max_new_tokens=args.tokens, **VARIANTS[variant])
                assert len(g.token_ids) == args.tokens, (variant, g.finish_reason)
                rates[model][variant].append(g.stats.decode_tokens_per_second)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    report = {}
    print("| model | plain tok/s | no-op processor tok/s | json schema tok/s | schema / plain |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for model, by_variant in rates.items():
        med = {v: statistics.median(x) for v, x in by_variant.items()}
        ratio = med["json schema"] / med["plain"]
        report[model] = {"median_tokens_per_second": med, "all": by_variant, "ratio": ratio}
        print(
            f"| {model} | {med['plain']:.1f} | {med['no-op processor']:.1f} | "
            f"{med['json schema']:.1f} | {ratio:.3f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
