"""Prompt-lookup decoding against plain decoding, on the real SmolLM2-135M-Instruct.

    python benchmarks/prompt_lookup.py [--rounds 5] [--tokens 96] [--json FILE]

Two prompt sets, each a chat turn: "extraction" (a sensor report, a log excerpt or a
story to repeat, quote or turn into JSON: the answer copies runs of the prompt) and
"free" (a haiku, a story, an explanation: little to copy). Each prompt is generated
greedily with max_new_tokens, plain and with speculative="prompt-lookup", the two
alternating within every round; the outputs must be identical token for token (the run
stops with an error otherwise). Reported per set: the decode tokens/s of each (the sum of
tokens over the sum of decode seconds, per round, then the median over rounds) and the
ratio lookup / plain, with the drafted tokens' acceptance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.real_models import smollm2_gguf  # noqa: E402

from edge_reason import Engine  # noqa: E402

REPORT = (
    "Sensor report. Device: greenhouse-7. Temperature: 23.5 C. Humidity: 61 percent. "
    "Soil moisture: low. Valve state: closed. Battery: 3.71 V. Firmware: 2.4.1. "
    "Location: north wing."
)
LOG = (
    "2026-11-02 08:14:07 pump-3 started (flow 12.4 l/min)\n"
    "2026-11-02 08:44:10 pump-3 pressure warning (2.9 bar, limit 2.5 bar)\n"
    "2026-11-02 08:44:12 pump-3 stopped by the safety relay\n"
    "2026-11-02 09:02:55 pump-3 restarted by operator anna\n"
)
STORY = (
    "1 Mary moved to the bathroom.\n2 John went to the hallway.\n3 Mary picked up the "
    "apple there.\n4 Daniel travelled to the office.\n5 Mary went back to the kitchen.\n"
)
SETS = {
    "extraction": [
        REPORT + "\nRepeat the report exactly.",
        REPORT + "\nReturn device, temperature, humidity, battery and firmware as JSON.",
        LOG + "\nQuote the lines about pump-3's pressure and its stop.",
        LOG + "\nList every event above with its time, one per line.",
        STORY + "\nCopy the lines that mention Mary.",
    ],
    "free": [
        "Write a haiku about autumn rain.",
        "Tell me a short story about a robot that learns to garden.",
        "Explain why the sky is blue to a child.",
        "Give three tips for saving water at home.",
        "What is a good name for a friendly dog? Give reasons.",
    ],
}


def run(engine: Engine, prompt: str, tokens: int, lookup: bool) -> tuple[list[int], int, float]:
    options = {"speculative": "prompt-lookup"} if lookup else {}
    g = engine.chat([{"role": "user", "content": prompt}], max_new_tokens=tokens, **options)
    return g.token_ids, g.stats.generated_tokens, g.stats.decode_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = Engine.load(smollm2_gguf(), threads=args.threads)
    rates: dict[str, dict[bool, list[float]]] = {s: {False: [], True: []} for s in SETS}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, prompts in SETS.items():
            totals = {False: [0, 0.0], True: [0, 0.0]}
            for i, prompt in enumerate(prompts):
                order = (False, True) if (round_ + i) % 2 else (True, False)
                outputs = {}
                for lookup in order:
                    ids, n, seconds = run(engine, prompt, args.tokens, lookup)
                    outputs[lookup] = ids
                    totals[lookup][0] += n
                    totals[lookup][1] += seconds
                if outputs[False] != outputs[True]:
                    raise SystemExit(f"prompt-lookup changed the output of {prompt[:40]!r}")
            if round_:
                for lookup, (n, seconds) in totals.items():
                    rates[name][lookup].append(n / seconds)
    report = {
        "model": "SmolLM2-135M-Instruct Q4_1",
        "kernel": engine.info()["kernel"],
        "threads": args.threads,
        "tokens": args.tokens,
        "rounds": args.rounds,
        "when": time.strftime("%Y-%m-%d"),
        "sets": {},
    }
    for name in SETS:
        plain = statistics.median(rates[name][False])
        lookup = statistics.median(rates[name][True])
        report["sets"][name] = {
            "plain_tps": plain,
            "lookup_tps": lookup,
            "ratio": lookup / plain,
            "ratio_rounds": [
                b / a for a, b in zip(rates[name][False], rates[name][True], strict=True)
            ],
        }
        ratio = lookup / plain
        print(f"{name:10s} plain {plain:6.1f} tok/s  lookup {lookup:6.1f} tok/s  {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
