"""The benchmark as a function: run(BenchRequest) -> BenchReport.

`edge-reason bench` parses its options into a BenchRequest, calls run, and prints or
writes the report; anything else (a script, a test) can call run the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeReasonError
from ..progress import Progress, silent
from ..system import physical_cores
from . import BACKENDS, FILE_QUANT, MAX_BATCH, SCHEMA, SPECULATIVE
from .energy import find_power_sensor
from .prepare import Preparer, Skipped, cache_root, content_hash, resolve_source
from .runner import run_cases


class BenchError(EdgeReasonError):
    """A benchmark with nothing to measure; the message says why for each backend."""


@dataclass(frozen=True)
class BenchRequest:
    """What to measure: `model` (a bundle, a Hugging Face folder or a GGUF file) or a
    random-weight `shape`, on every backend x quantization x thread count.

    batch: batch sizes (1 to MAX_BATCH) the native engine also decodes at (B prompts
    together); batch 1 is always measured, the baseline of the ratios and the only size
    the other backends run. speculative: a method of SPECULATIVE the native engine is also
    measured with (at batch 1), or None."""

    model: Path | None = None
    shape: str | None = None
    backends: Sequence[str] = BACKENDS
    quants: Sequence[str] = ()  # empty: int4 and int8, or a GGUF file's own types
    threads: Sequence[int] = ()  # empty: the physical cores
    prompt_tokens: int = 128
    gen_tokens: int = 64
    repeats: int = 5
    batch: Sequence[int] = (1,)
    speculative: str | None = None

    def __post_init__(self) -> None:
        bad = [b for b in self.batch if isinstance(b, bool) or not isinstance(b, int)]
        if bad or any(not 1 <= b <= MAX_BATCH for b in self.batch):
            raise ValueError(
                f"batch sizes must be integers from 1 to {MAX_BATCH}, got {self.batch!r}"
            )
        if self.speculative is not None and self.speculative not in SPECULATIVE:
            raise ValueError(
                f"speculative must be one of {', '.join(SPECULATIVE)}, got {self.speculative!r}"
            )

    @property
    def batches(self) -> list[int]:
        """The batch sizes to measure: 1 and those asked for, without repeats, in order."""
        return sorted({1, *self.batch})

    @property
    def max_context(self) -> int:
        return max(512, self.prompt_tokens + self.gen_tokens + 1)


@dataclass(frozen=True)
class BenchReport:
    """What a benchmark measured (schema SCHEMA of docs/benchmarks.md, "The report")."""

    model: Path
    machine: dict[str, Any]  # the CPU, its read bandwidth per thread count, the power sensor
    settings: dict[str, Any]
    results: list[dict[str, Any]]  # one per case measured
    failed: list[dict[str, Any]]  # cases whose backend could not load the model
    skipped: list[Skipped]  # backend x quantization that cannot run here, with the reason

    def to_json(self) -> dict[str, Any]:
        """The report as `--json` writes it."""
        return {
            "schema": SCHEMA,
            "machine": self.machine,
            "settings": self.settings,
            "results": self.results,
            "failed": self.failed,
            "model": str(self.model),
            "skipped": [asdict(s) for s in self.skipped],
        }


def run(
    request: BenchRequest,
    progress: Callable[[str], None] = lambda _message: None,
    measuring: Progress = silent,
) -> BenchReport:
    """Prepare each backend's model (cached by content), measure every case that can run,
    interleaved, and report; BenchError if nothing could be measured.

    progress(message) reports preparation and loads; measuring(label, runs) advances one
    unit per run."""
    source = resolve_source(request.model, request.shape, progress)
    quants = list(request.quants) or ([FILE_QUANT] if source.gguf else ["int4", "int8"])
    work = cache_root() / "bench" / content_hash(source.path)
    preparer = Preparer(source, work, request.max_context, progress)
    threads = list(request.threads) or [physical_cores()]
    cases, skipped = preparer.plan(
        request.backends, quants, threads, request.batches, request.speculative
    )
    if not cases:
        reasons = "; ".join(f"{s.label}: {s.reason}" for s in skipped)
        raise BenchError(f"nothing to measure ({reasons})")
    measured = run_cases(
        cases,
        prompt_tokens=request.prompt_tokens,
        gen_tokens=request.gen_tokens,
        repeats=request.repeats,
        max_context=request.max_context,
        progress=progress,
        measuring=measuring,
        power=find_power_sensor(),
    )
    if not measured["results"]:
        reasons = "; ".join(
            f"{f['backend']} {f['quant']}: {f['reason']}" for f in measured["failed"]
        )
        raise BenchError(f"no backend could load the model ({reasons})")
    return BenchReport(
        model=source.path,
        machine=measured["machine"],
        settings=measured["settings"],
        results=measured["results"],
        failed=measured["failed"],
        skipped=skipped,
    )
