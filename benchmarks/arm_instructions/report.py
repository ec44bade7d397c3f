"""The table and the JSON of benchmarks/arm_instructions.sh, from its raw counts.

    python3 report.py RUNS.tsv --json OUT.json --gguf-dir DIR --qemu ... --compiler ...

RUNS.tsv has one line per run: impl, cpu, format, prompt tokens, decoded tokens,
threads, instructions, kernel, weight bytes per token (engine only).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
from collections import defaultdict
from pathlib import Path

GGUF_TYPE = {"int4": "q4_0", "int8": "q8_0"}
DECODE = ((16, 16), (16, 0), 16)  # (with, without, tokens)
PROMPT = ((48, 0), (16, 0), 32)

NOTE_THREADS = (
    "Counts at {t} threads add up what every thread executes: the thread pools' waiting "
    "as well as the work. QEMU user mode runs the {t} guest threads on this host's "
    "{cores} cores, shared with whatever else runs, so a thread waits for a descheduled "
    "one far longer than on a board with {t} cores of its own, and the count varies from "
    "run to run. llama.cpp's threads wait at a barrier after every operation of the "
    "graph by spinning, without limit (ggml_barrier), hence counts tens of times its "
    "single-threaded ones; the engine's workers spin briefly, then sleep."
)


def per_token(counts: dict[tuple[int, int], int], spec) -> float | None:
    with_, without, tokens = spec
    if with_ not in counts or without not in counts:
        return None
    return (counts[with_] - counts[without]) / tokens


def gguf_bytes_per_token(path: Path) -> int:
    """Bytes of every tensor a decode step reads: all but the token embedding (one row
    of it per token), unless the output is tied to it."""
    import gguf

    tensors = {t.name: int(t.n_bytes) for t in gguf.GGUFReader(path).tensors}
    total = sum(n for name, n in tensors.items() if name != "token_embd.weight")
    if "output.weight" not in tensors:
        total += tensors["token_embd.weight"]
    return total


def millions(x: float | None) -> str:
    return "–" if x is None else f"{x / 1e6:.1f}M"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def megabytes(x: int | None) -> str:
    return "–" if x is None else f"{x / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--gguf-dir", type=Path, required=True)
    parser.add_argument("--qemu", required=True)
    parser.add_argument("--compiler", required=True)
    parser.add_argument("--llama-cpp", default="")
    parser.add_argument("--engine-commit", default="")
    parser.add_argument("--host-cores", type=int, default=os.cpu_count())
    args = parser.parse_args()

    counts: dict[tuple[str, str, str, int], dict[tuple[int, int], int]] = defaultdict(dict)
    kernel: dict[tuple[str, str], str] = {}
    engine_bytes: dict[str, int] = {}
    raw = []
    with args.runs.open() as f:
        for impl, cpu, fmt, prompt, decode, threads, insns, kern, nbytes in csv.reader(
            f, delimiter="\t"
        ):
            counts[impl, cpu, fmt, int(threads)][int(prompt), int(decode)] = int(insns)
            kernel[impl, cpu] = kern
            if nbytes:
                engine_bytes[fmt] = int(nbytes)
            raw.append(
                {
                    "impl": impl,
                    "cpu": cpu,
                    "format": fmt,
                    "prompt_tokens": int(prompt),
                    "decode_tokens": int(decode),
                    "threads": int(threads),
                    "instructions": int(insns),
                    "kernel": kern,
                }
            )

    llama_bytes: dict[str, int] = {}
    for fmt, qtype in GGUF_TYPE.items():
        path = args.gguf_dir / f"smollm2-135m-random-{qtype}.gguf"
        if path.exists() and any(k[0] == "llama" and k[2] == fmt for k in counts):
            llama_bytes[fmt] = gguf_bytes_per_token(path)

    cpus = list(dict.fromkeys(k[1] for k in counts))
    formats = [f for f in GGUF_TYPE if any(k[2] == f for k in counts)]
    multi = sorted({k[3] for k in counts if k[3] > 1})
    rows = []
    for cpu in cpus:
        for fmt in formats:
            for threads in [1, *multi]:
                engine = counts.get(("engine", cpu, fmt, threads), {})
                llama = counts.get(("llama", cpu, fmt, threads), {})
                if not engine and not llama:
                    continue
                rows.append(
                    {
                        "cpu": cpu,
                        "kernel": kernel.get(("engine", cpu), ""),
                        "llama_cpp_build": kernel.get(("llama", cpu), ""),
                        "format": fmt,
                        "llama_cpp_format": GGUF_TYPE[fmt].upper(),
                        "threads": threads,
                        "engine_insns_per_decoded_token": per_token(engine, DECODE),
                        "llama_cpp_insns_per_decoded_token": per_token(llama, DECODE),
                        "engine_insns_per_prompt_token": per_token(engine, PROMPT),
                        "llama_cpp_insns_per_prompt_token": per_token(llama, PROMPT),
                        "engine_weight_bytes_per_token": engine_bytes.get(fmt),
                        "llama_cpp_weight_bytes_per_token": llama_bytes.get(fmt),
                    }
                )

    print("Instructions per token, 1 thread (prompt 16; decoded tokens 16-31; prompt tokens 16-47)")
    print()
    print(
        "| CPU | kernel | format | engine insns/decoded token | llama.cpp | ratio "
        "| engine insns/prompt token | llama.cpp | ratio "
        "| engine weight bytes/token | llama.cpp bytes/token |"
    )
    print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in (r for r in rows if r["threads"] == 1):
        ed, ld = r["engine_insns_per_decoded_token"], r["llama_cpp_insns_per_decoded_token"]
        ep, lp = r["engine_insns_per_prompt_token"], r["llama_cpp_insns_per_prompt_token"]
        print(
            f"| {r['cpu']} | {r['kernel']} | {r['format']} / {r['llama_cpp_format']} "
            f"| {millions(ed)} | {millions(ld)} | {ratio(ed, ld)} "
            f"| {millions(ep)} | {millions(lp)} | {ratio(ep, lp)} "
            f"| {megabytes(r['engine_weight_bytes_per_token'])} "
            f"| {megabytes(r['llama_cpp_weight_bytes_per_token'])} |"
        )
    for threads in multi:
        print()
        print(f"Instructions per decoded token, {threads} threads (all threads together)")
        print()
        print("| CPU | kernel | format | engine | llama.cpp | ratio |")
        print("|---|---|---|--:|--:|--:|")
        for r in (r for r in rows if r["threads"] == threads):
            ed, ld = r["engine_insns_per_decoded_token"], r["llama_cpp_insns_per_decoded_token"]
            print(
                f"| {r['cpu']} | {r['kernel']} | {r['format']} / {r['llama_cpp_format']} "
                f"| {millions(ed)} | {millions(ld)} | {ratio(ed, ld)} |"
            )
        print()
        print(NOTE_THREADS.format(t=threads, cores=args.host_cores))

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "qemu": args.qemu,
        "compiler": args.compiler,
        "engine_commit": args.engine_commit,
        "llama_cpp": args.llama_cpp,
        "host_cores": args.host_cores,
        "model": "random weights, SmolLM2-135M shape (dim 576, ffn 1536, 30 layers, "
        "9 heads, 3 kv heads, vocab 49152); engine: int4/int8 matrices and lm_head, "
        "Q8 embedding; llama.cpp: Q4_0/Q8_0 matrices and output, Q8_0 token_embd",
        "method": {
            "insns_per_decoded_token": "(count(prompt 16 + decode 16) - count(prompt 16)) / 16",
            "insns_per_prompt_token": "(count(prompt 48) - count(prompt 16)) / 32",
            "counted": "every guest instruction of every thread, QEMU TCG plugin",
            "multi_threaded": NOTE_THREADS.format(t="several", cores=args.host_cores),
        },
        "rows": rows,
        "runs": raw,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
