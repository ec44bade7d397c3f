"""The native engine on two real model shapes: token rates, load time, memory, roofline.

    python benchmarks/bench_engine.py [--shapes smollm2-135m,qwen2.5-0.5b] [--json FILE]

Builds random-weight models of SmolLM2-135M and Qwen2.5-0.5B (speed does not
depend on the weight values) under $EDGE_REASON_CACHE or ~/.cache/edge-reason,
then measures f32 / int8 / int4 at 1 and 2 threads: prefill tokens/s for a
128-token prompt, decode tokens/s over 64 tokens (median of 5 after a warm-up),
load time, peak RSS, and decode's effective bandwidth (weight bytes read per
token x tokens/s) as a fraction of the read bandwidth this script measures.
Every configuration runs in its own process, and their repeats are interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edge_reason.bench.runner import Case, format_table, run_cases
from edge_reason.shapes import write_random_model


def model_dir(shape: str) -> Path:
    cache = Path(os.environ.get("EDGE_REASON_CACHE", Path.home() / ".cache" / "edge-reason"))
    folder = cache / "shapes" / shape
    if not (folder / "config.json").is_file():
        print(f"building a random-weight {shape} in {folder}", file=sys.stderr)
        write_random_model(shape, folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="smollm2-135m,qwen2.5-0.5b")
    parser.add_argument("--quants", default="f32,int8,int4")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args()
    reports = {}
    for shape in args.shapes.split(","):
        path = str(model_dir(shape))
        cases = [
            Case("native", quant, int(threads), path)
            for quant in args.quants.split(",")
            for threads in args.threads.split(",")
        ]
        report = run_cases(
            cases, repeats=args.repeats, progress=lambda m: print(f"  {m}", file=sys.stderr)
        )
        reports[shape] = report
        print(f"\n## {shape}\n")
        print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
