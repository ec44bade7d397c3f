"""A benchmark worker: one backend in one process, driven by JSON lines on stdin.

Commands (one JSON object per line, one reply line each):
  {"cmd": "load", "backend", "path", "quant", "threads", "max_context", "started"}
      -> {"load_s", "cold_start_s", "first_token_s"}; `started` is the parent's
      time.time() at spawn, so cold start spans process start to first token
  {"cmd": "run", "prompt_tokens", "gen_tokens", "batch", "speculative"} -> {"prefill_tps",
      "decode_tps", "decode_s", "ended"}; `ended` is time.time() when decoding finished, so
      the parent can line the decode up with its power samples. `batch` B > 1 (native
      only): B distinct prompts decoded together, decode_tps their aggregate; `speculative`
      (native only): e.g. "prompt-lookup". Both are optional (1, None).
  {"cmd": "stats"} -> {"peak_rss_mb", "bytes_per_token"}
Errors come back as {"error": "..."} and end the worker.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from .adapters import open_backend
from .quiet import quiet_third_party


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def prompt_ids(n: int, vocab: int, shift: int = 0) -> list[int]:
    # Deterministic ids away from the special tokens at either end (a quarter
    # of the vocabulary's margin on the small ones tests use). Prompts of different
    # shifts (less than the span apart) differ from their first token on.
    margin = min(1000, vocab // 4)
    return [margin + (i * 7919 + shift) % (vocab - 2 * margin) for i in range(n)]


def serve() -> None:
    runner: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["cmd"] == "load":
                t0 = time.time()
                runner = open_backend(
                    request["backend"],
                    request["path"],
                    quant=request["quant"],
                    threads=request["threads"],
                    max_context=request["max_context"],
                )
                t1 = time.time()
                runner.run(prompt_ids(8, runner.vocab_size), 1)
                t2 = time.time()
                reply = {
                    "load_s": t1 - t0,
                    "first_token_s": t2 - t1,
                    "cold_start_s": t2 - request["started"],
                }
            elif request["cmd"] == "run":
                n, gen = request["prompt_tokens"], request["gen_tokens"]
                batch, speculative = request.get("batch", 1), request.get("speculative")
                ids = prompt_ids(n, runner.vocab_size)
                if batch > 1:
                    prompts = [prompt_ids(n, runner.vocab_size, shift=s) for s in range(batch)]
                    prefill_s, decode_s, generated = runner.run_batch(prompts, gen)
                elif speculative:
                    prefill_s, decode_s, generated = runner.run(ids, gen, speculative=speculative)
                else:  # the outside baselines' run takes no speculative
                    prefill_s, decode_s, generated = runner.run(ids, gen)
                reply = {
                    "prefill_tps": batch * n / prefill_s,
                    "decode_tps": generated / decode_s,
                    "decode_s": decode_s,
                    "ended": time.time(),
                }
            elif request["cmd"] == "stats":
                reply = {"peak_rss_mb": peak_rss_mb(), "bytes_per_token": runner.bytes_per_token}
            else:
                reply = {"error": f"unknown command {request['cmd']!r}"}
        except Exception as e:  # reported to the parent, which names the backend
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if "error" in reply:
            return


if __name__ == "__main__":
    # the worker's stderr is the user's terminal: only errors belong there
    quiet_third_party()
    serve()
