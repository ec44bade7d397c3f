"""What the KV cache's storage costs in accuracy and saves in memory, on the real
SmolLM2-135M-Instruct (Q4_1 GGUF).

    python benchmarks/kv_cache_formats.py [--tokens 512] [--json FILE]

Each text (a chat about a greenhouse, a bAbI story, a log, a passage of prose, each
repeated to --tokens tokens) runs through the engine once per cache format (f32, f16,
q8), as one sequence whose every position's next-token logits are kept
(Engine.logits). Reported per format against f32: the KL divergence of the next-token
distributions (mean and max over positions), the share of positions whose most likely
token differs, and the cache's bytes per position (Engine.info()["kv_cache_bytes"] over
its positions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.real_models import smollm2_gguf  # noqa: E402

from edge_reason import Engine  # noqa: E402

TEXTS = [
    "User: The greenhouse is at 31 C and the soil is dry. Should the valve open?\n"
    "Assistant: Yes. At 31 C with dry soil the plants lose water fast; open the valve "
    "for ten minutes, then check the moisture again.\n",
    "1 Mary moved to the bathroom.\n2 John went to the hallway.\n3 Mary picked up the "
    "apple.\n4 Daniel travelled to the office.\n5 Where is the apple? bathroom 1 3\n",
    "2026-11-02 08:14:07 pump-3 started (flow 12.4 l/min)\n2026-11-02 08:44:10 pump-3 "
    "pressure warning (2.9 bar, limit 2.5 bar)\n2026-11-02 08:44:12 pump-3 stopped\n",
    "The river ran high that spring, and the old mill, which had stood silent for a "
    "decade, turned again for a few weeks while the water lasted. ",
]
FORMATS = ("f32", "f16", "q8")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engines = {f: Engine.load(smollm2_gguf(), kv_cache=f, max_context=args.tokens) for f in FORMATS}
    reference = engines["f32"]
    kl: dict[str, list[float]] = {f: [] for f in FORMATS[1:]}
    flips: dict[str, list[bool]] = {f: [] for f in FORMATS[1:]}
    for text in TEXTS:
        ids = reference.encode(text)
        ids = (ids * (args.tokens // len(ids) + 1))[: args.tokens]
        want = log_softmax(reference.logits(ids).astype(np.float64))
        for f in FORMATS[1:]:
            got = log_softmax(engines[f].logits(ids).astype(np.float64))
            kl[f] += list((np.exp(want) * (want - got)).sum(axis=-1))
            flips[f] += list(want.argmax(axis=-1) != got.argmax(axis=-1))
    report = {"model": "SmolLM2-135M-Instruct Q4_1", "tokens": args.tokens, "formats": {}}
    for f in FORMATS:
        per_position = engines[f].info()["kv_cache_bytes"] / args.tokens
        row = {"bytes_per_position": per_position}
        if f != "f32":
            row |= {
                "kl_mean": float(np.mean(kl[f])),
                "kl_max": float(np.max(kl[f])),
                "argmax_changed": float(np.mean(flips[f])),
            }
        report["formats"][f] = row
        extra = (
            f"  KL mean {row['kl_mean']:.2e} max {row['kl_max']:.2e}"
            f"  argmax changed {row['argmax_changed']:.2%}"
            if f != "f32"
            else ""
        )
        print(f"{f:4s} {per_position / 1024:7.1f} KiB/position{extra}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
