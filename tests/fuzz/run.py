"""Fuzz each target with atheris for a bounded time, starting from a copy of its seed corpus.

    python tests/fuzz/run.py --seconds-per-target 30 [target ...]

Each target runs in its own subprocess. A crash, a hang past --timeout or a memory blow-up
past --rss-limit-mb is saved by libFuzzer under crashes/<target>/ (where
test_regressions.py replays it from then on) and makes this script exit non-zero, naming
the target and the file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from targets import FUZZ_DIR, TARGETS, corpus_dir, crashes_dir

TESTS_DIR = FUZZ_DIR.parent
_RUNS = re.compile(r"Done (\d+) runs in (\d+) second")


def fuzz(target: str, seconds: int, timeout: int, rss_limit_mb: int) -> list[Path]:
    """Fuzz ``target`` for ``seconds``; the new files in its crashes folder."""
    crashes = crashes_dir(target)
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as work:
        # libFuzzer adds what it finds to the first corpus folder: a copy keeps the seeds small.
        corpus = shutil.copytree(corpus_dir(target), Path(work) / "corpus")
        command = [
            sys.executable, "-m", "fuzz.atheris_main", target, str(corpus),
            f"-max_total_time={seconds}", f"-timeout={timeout}",
            f"-rss_limit_mb={rss_limit_mb}", f"-artifact_prefix={crashes}/",
            "-print_final_stats=1",
        ]  # fmt: skip
        inherited = os.environ.get("PYTHONPATH", "")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), inherited])),
        }
        started = time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
        elapsed = time.monotonic() - started
    runs = _RUNS.search(done.stderr)
    print(f"{target}: {runs.group(1) if runs else '?'} runs in {elapsed:.0f} s", flush=True)
    found = sorted(set(crashes.iterdir()) - before)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        if not found:  # the harness itself failed (an import error...): still a failure
            found = [Path(f"(no input saved; exit code {done.returncode})")]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--seconds-per-target", type=int, default=30)
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    args = parser.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    failed = False
    for target in args.targets or TARGETS:
        for crash in fuzz(target, args.seconds_per_target, args.timeout, args.rss_limit_mb):
            print(f"FUZZ FAILURE: target {target}: {crash}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
