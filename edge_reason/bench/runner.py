"""Runs benchmark workers side by side and reduces their numbers to one report."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..progress import Progress, silent
from . import SCHEMA
from .energy import PowerSampler, PowerSensor

# A round whose bandwidth measured after the decode differs from the one before it by more
# than this share changed state during the decode: it is not held against the roofline.
STEADY_TOLERANCE = 0.15


@dataclass(frozen=True)
class Case:
    """One backend at one quantization and thread count, on one model path, decoding
    `batch` prompts together (native only beyond 1), plain or with a `speculative` method
    (native only)."""

    backend: str
    quant: str
    threads: int
    path: str
    batch: int = 1
    speculative: str | None = None

    @property
    def label(self) -> str:
        """The case as messages name it: native int4 x2 batch 4, native int4 x2 prompt-lookup."""
        extra = f" batch {self.batch}" if self.batch > 1 else ""
        extra += f" {self.speculative}" if self.speculative else ""
        return f"{self.backend} {self.quant} x{self.threads}{extra}"


def worker_env() -> dict[str, str]:
    """A worker's environment: this one, with the folder that holds the edge_reason this
    process runs put first on PYTHONPATH unless it is an installed one (site-packages).

    A worker starts in the model's folder, so a checkout that this process found as its
    working directory is not where the worker looks: it would import whatever edge_reason
    is installed, and measure that engine instead of this one."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env


class Worker:
    """A worker process (edge_reason.bench.worker) serving one Case."""

    def __init__(self, case: Case, max_context: int) -> None:
        self.case = case
        started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_reason.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.abspath(case.path)) or ".",
            env=worker_env(),
        )
        try:
            self.load = self.ask(
                cmd="load",
                backend=case.backend,
                path=os.path.abspath(case.path),
                quant=case.quant,
                threads=case.threads,
                max_context=max_context,
                started=started,
            )
        except RuntimeError:
            self.close()
            raise

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.case.backend} worker exited (code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.case.backend} {self.case.quant}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# Where the machine describes its cores, and the /proc/cpuinfo fields that name one:
# x86 family/model/stepping, ARM implementer/part.
CPUINFO = Path("/proc/cpuinfo")
CPU0_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
CPU_ID_FIELDS = ("cpu family", "model", "stepping", "CPU implementer", "CPU part")


def first_cpu_fields() -> dict[str, str]:
    """The first processor's "key: value" lines of /proc/cpuinfo ({} where there is none)."""
    try:
        first = CPUINFO.read_text().split("\n\n", 1)[0]
    except OSError:
        return {}
    pairs = (line.partition(":") for line in first.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def last_level_cache() -> str | None:
    """The size of cpu0's last cache level as sysfs gives it ("32768K"), or None."""
    levels = CPU0_CACHES.glob("index*/size")
    try:
        return max(levels, key=lambda p: int(p.with_name("level").read_text())).read_text().strip()
    except (OSError, ValueError):
        return None


def machine_info() -> dict[str, Any]:
    from .. import _native

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "system": platform.platform(),
        "cpu_count": os.cpu_count(),
        "kernel": _native.selected_kernel(),
        "python": platform.python_version(),
    }
    # Two VMs may both call themselves "AMD EPYC": the family and model (x86) or the part
    # number (ARM), and the last-level cache, tell which core and memory a run measured.
    fields = first_cpu_fields()
    info["cpu"] = fields.get("model name") or platform.processor()
    ids = {key: fields[key] for key in CPU_ID_FIELDS if key in fields}
    if ids:
        info["cpu_id"] = ids
    cache = last_level_cache()
    if cache:
        info["last_level_cache"] = cache
    return info


def measure_bandwidth(threads: int) -> float:
    """Read bandwidth in bytes/s with `threads` threads: the decode roofline.

    The buffer is 1 GiB, or a quarter of the memory on a smaller board (a Raspberry Pi
    Zero 2 W has 512 MB). It must dwarf the caches: this VM's host reports a 480 MiB L3, and
    a freshly written 256 MB buffer once read back at 83 GB/s while 1 GiB read at 50-53.
    """
    from .. import _native

    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return _native.read_bandwidth(min(1024, ram_mb // 4), threads, 5)


def run_cases(
    cases: Sequence[Case],
    *,
    prompt_tokens: int = 128,
    gen_tokens: int = 64,
    repeats: int = 5,
    max_context: int = 512,
    progress: Callable[[str], None] = lambda _msg: None,
    measuring: Progress = silent,
    power: PowerSensor | None = None,
) -> dict[str, Any]:
    """Measure every case, interleaved, and return the report (schema SCHEMA).

    The read bandwidth is measured right before and right after every decode, at that
    decode's thread count: on a shared machine it drifts (on this project's VM it flips between
    about 50 and 80 GB/s within seconds), so each decode is compared with the mean of the two.
    A round whose two measurements differ by more than STEADY_TOLERANCE changed state while it
    ran and is compared with neither: the roofline fraction is the median over the steady
    rounds (over all, if none was steady; `roofline_steady_rounds` says how many were).

    progress(message) reports each load; measuring(label, runs) advances one unit per run
    (every case once per round, the warm-up round included).

    A case of batch B decodes B prompts together: its decode rate is all their decoded
    tokens over the wall time of the batched decode, and its roofline is B tokens per read
    of the weights (B x bandwidth / bytes_per_token).

    With a `power` sensor, each result also has decode_j_per_token: the mean
    power during its decodes over its decode rate (median over the repeats).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    sampler = PowerSampler(power) if power is not None else None
    workers: list[Worker] = []
    failed: list[dict[str, Any]] = []  # cases whose backend could not load the model
    try:
        for case in cases:
            try:
                workers.append(Worker(case, max_context))
            except RuntimeError as e:
                failed.append({**asdict(case), "reason": str(e)})
                progress(f"could not load {case.label}: {e}")
                continue
            progress(f"loaded {case.label}")
        samples: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(workers))}
        # bytes/s before and after each decode
        bandwidths: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(workers))}
        runs = (repeats + 1) * len(workers)
        with sampler or contextlib.nullcontext(), measuring("measuring", runs) as advance:
            for round_ in range(repeats + 1):  # round 0 warms up
                # Each round starts one case further on, so that no case always runs
                # right after the same other one, nor always first after the pause.
                start = round_ % len(workers) if workers else 0
                for i in [*range(start, len(workers)), *range(start)]:
                    w = workers[i]
                    before = measure_bandwidth(w.case.threads) if round_ > 0 else 0.0
                    r = w.ask(
                        cmd="run",
                        prompt_tokens=prompt_tokens,
                        gen_tokens=gen_tokens,
                        batch=w.case.batch,
                        speculative=w.case.speculative,
                    )
                    if round_ > 0:
                        bandwidths[i].append((before, measure_bandwidth(w.case.threads)))
                        samples[i].append(r)
                    advance(1)
        stats = [w.ask(cmd="stats") for w in workers]
    finally:
        for w in workers:
            w.close()

    results = []
    for i, w in enumerate(workers):
        decode = [s["decode_tps"] for s in samples[i]]
        prefill = [s["prefill_tps"] for s in samples[i]]
        median_decode = statistics.median(decode)
        bytes_per_token = stats[i]["bytes_per_token"]
        batch = w.case.batch
        pairs = bandwidths[i]
        # tokens/s if every step read the weights at the bandwidth around it: B per read
        roofs = [batch * (before + after) / 2 for before, after in pairs]
        fractions = [tps * bytes_per_token / roof for tps, roof in zip(decode, roofs, strict=True)]
        steady = [
            f
            for f, (before, after) in zip(fractions, pairs, strict=True)
            if abs(before - after) <= STEADY_TOLERANCE * max(before, after)
        ]
        result = {
            "backend": w.case.backend,
            "quant": w.case.quant,
            "threads": w.case.threads,
            "batch": batch,
            "speculative": w.case.speculative,
            "prefill_tps": statistics.median(prefill),
            "decode_tps": median_decode,
            "decode_tps_min": min(decode),
            "decode_tps_max": max(decode),
            "decode_tps_rounds": decode,  # in round order
            "read_bandwidth_gbs_rounds": [b / 1e9 for b, _ in pairs],  # just before each decode
            "read_bandwidth_gbs_after_rounds": [a / 1e9 for _, a in pairs],  # just after
            "cold_start_s": w.load["cold_start_s"],
            "load_s": w.load["load_s"],
            "peak_rss_mb": stats[i]["peak_rss_mb"],
            "bytes_per_token": bytes_per_token,
            "roofline_tps": statistics.median(roofs) / bytes_per_token if bytes_per_token else None,
            # each decode against the bandwidth around it, then the median (steady rounds)
            "roofline_fraction": statistics.median(steady or fractions)
            if bytes_per_token
            else None,
            "roofline_steady_rounds": len(steady),
        }
        if sampler is not None:
            watts = [sampler.mean_watts(s["ended"] - s["decode_s"], s["ended"]) for s in samples[i]]
            joules = [
                p / s["decode_tps"] for p, s in zip(watts, samples[i], strict=True) if p is not None
            ]
            result["decode_j_per_token"] = statistics.median(joules) if joules else None
        results.append(result)
    # GB/s per thread count: every measurement, in the order taken
    rounds_gbs: dict[str, list[float]] = {}
    for i, w in enumerate(workers):
        taken = rounds_gbs.setdefault(str(w.case.threads), [])
        taken.extend(b / 1e9 for pair in bandwidths[i] for b in pair)
    return {
        "schema": SCHEMA,
        "machine": {
            **machine_info(),
            "read_bandwidth_gbs": {t: statistics.median(g) for t, g in rounds_gbs.items()},
            "read_bandwidth_gbs_min": {t: min(g) for t, g in rounds_gbs.items()},
            "read_bandwidth_gbs_max": {t: max(g) for t, g in rounds_gbs.items()},
            "read_bandwidth_gbs_rounds": rounds_gbs,
            "power_sensor": power.name if power is not None else None,
            "power_sensor_error": sampler.error if sampler is not None else None,
        },
        "settings": {
            "prompt_tokens": prompt_tokens,
            "gen_tokens": gen_tokens,
            "repeats": repeats,
            "batch": sorted({c.batch for c in cases}),
            "speculative": sorted({c.speculative for c in cases if c.speculative}),
        },
        "results": results,
        "failed": failed,
    }


def _plain_single(r: dict[str, Any]) -> bool:
    """A row of one prompt decoded plainly (every row of a schema 1 report)."""
    return r.get("batch", 1) == 1 and not r.get("speculative")


def _roofline_cell(r: dict[str, Any]) -> str:
    """The roofline fraction and how many rounds it stands on (steady / all)."""
    if r["roofline_fraction"] is None:
        return "-"
    rounds = len(r["decode_tps_rounds"])
    return f"{r['roofline_fraction']:.0%} ({r['roofline_steady_rounds']}/{rounds})"


def format_table(report: dict[str, Any], baseline: str = "native") -> str:
    """The report as an aligned text table, with decode ratios against `baseline` at batch 1,
    plain decoding, of the same quantization and thread count."""
    rows = report["results"]
    base = {
        (r["quant"], r["threads"]): r["decode_tps"]
        for r in rows
        if r["backend"] == baseline and _plain_single(r)
    }
    header = [
        "backend",
        "quant",
        "thr",
        "batch",
        "spec",
        "prefill t/s",
        "decode t/s (min-max)",
        "vs " + baseline,
        "roofline (steady)",
        "cold s",
        "load s",
        "RSS MB",
    ]
    lines = []
    for r in rows:
        ref = base.get((r["quant"], r["threads"]))
        lines.append(
            [
                r["backend"],
                r["quant"],
                str(r["threads"]),
                str(r.get("batch", 1)),
                r.get("speculative") or "-",
                f"{r['prefill_tps']:.1f}",
                f"{r['decode_tps']:.1f} ({r['decode_tps_min']:.1f}-{r['decode_tps_max']:.1f})",
                f"{r['decode_tps'] / ref:.2f}x" if ref else "-",
                _roofline_cell(r),
                f"{r['cold_start_s']:.2f}",
                f"{r['load_s']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
            ]
        )
    sensor = report["machine"].get("power_sensor")
    if sensor:
        header.append("J/token")
        for row, r in zip(lines, rows, strict=True):
            joules = r.get("decode_j_per_token")
            row.append(f"{joules:.3f}" if joules is not None else "-")
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    machine = report["machine"]
    low, high = machine.get("read_bandwidth_gbs_min", {}), machine.get("read_bandwidth_gbs_max", {})
    bw = ", ".join(
        f"{t} thr {g:.1f} GB/s"
        + (f" ({low[t]:.1f}-{high[t]:.1f})" if t in low and t in high else "")
        for t, g in machine["read_bandwidth_gbs"].items()
    )
    out.append(f"read bandwidth, median of the measurements: {bw}")
    if any(r.get("batch", 1) > 1 for r in rows):
        out.append(
            "batch B: B prompts decoded together; decode t/s is all their tokens over the "
            "batch's time, the roofline B x bandwidth / bytes per token"
        )
    out.append(f"energy: {sensor}" if sensor else "energy: no power sensors found")
    if report["machine"].get("power_sensor_error"):
        out.append(f"energy: sampling stopped early ({report['machine']['power_sensor_error']})")
    return "\n".join(out)
