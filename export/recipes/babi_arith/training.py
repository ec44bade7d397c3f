"""The training loop shared by the teacher and the student.

AdamW with linear warm-up and cosine decay; a checkpoint every ``checkpoint_every`` steps
and when SIGINT or SIGTERM arrives (the run then stops after the current step); ``resume``
continues exactly: weights, optimizer, scheduler and RNG states come back, and the data
position follows from the step. The curve file (JSON Lines) gets a training record every
``log_every`` steps and a validation record every ``validate_every`` steps; records after the
checkpoint a run resumes from are dropped, so the curve never holds a step twice.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import latest_checkpoint, load_checkpoint, restore_rng, rng_state, save_checkpoint
from .packing import Batch, BatchSchedule, make_batch
from .settings import TrainingSettings
from .validation import ValidationCurve

CURVE = "curve.jsonl"
MODEL = "model"  # the trained Hugging Face folder, written when training ends
WARMUP_VISITS = 2  # steps at a sequence length before its speed counts (kernel set-up)

Objective = Callable[[Any, Batch], tuple[Any, dict[str, float]]]


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; a checkpoint was written first."""


@dataclass(frozen=True)
class TrainingJob:
    folder: Path  # checkpoints, curve and the final model go here
    model: Any  # a transformers causal LM
    objective: Objective
    schedule: BatchSchedule
    settings: TrainingSettings
    batch_tokens: int
    digest: str  # the recipe settings' digest, stored in every checkpoint
    curve: ValidationCurve
    tokenizer_file: Path  # copied into the final model folder

    @property
    def total_steps(self) -> int:
        return max(1, math.ceil(self.settings.epochs * self.schedule.per_epoch))


@dataclass
class Throughput:
    """Speed after warm-up: steps at a length seen fewer than WARMUP_VISITS times are left
    out, because the first steps at each new length pay a one-time set-up."""

    tokens: int = 0  # real tokens (not padding)
    sequence_tokens: int = 0  # with padding
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        seconds = self.seconds or math.nan
        return {
            "tokens_per_second": self.tokens / seconds,
            "sequence_tokens_per_second": self.sequence_tokens / seconds,
            "measured_seconds": self.seconds,
        }


def train(job: TrainingJob, *, resume: bool, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the job to its last step; return a summary for stage.json."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    model, settings = job.model, job.settings
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]  # norms: decay would shrink them
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay}],
        lr=settings.lr,
        weight_decay=0.0,
    )
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, min(settings.warmup_steps, job.total_steps), job.total_steps
    )
    job.folder.mkdir(parents=True, exist_ok=True)
    start = _resume(job, optimizer, scheduler) if resume else 0
    curve = (job.folder / CURVE).open("a", encoding="utf-8")
    speed, window = Throughput(), _Window()
    visits: Counter[int] = Counter()
    bar = tqdm(total=job.total_steps, initial=start, desc=job.folder.name, disable=not progress)
    model.train()
    try:
        with _stop_signals() as stop:
            for step in range(start, job.total_steps):
                began = time.perf_counter()
                sequences, rows = job.schedule.batch(step)
                batch = make_batch(sequences, rows)
                loss, parts = job.objective(model, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                seconds = time.perf_counter() - began
                if visits[sequences.length] >= WARMUP_VISITS:
                    speed.tokens += batch.tokens
                    speed.sequence_tokens += batch.ids.numel()
                    speed.seconds += seconds
                visits[sequences.length] += 1
                window.add(float(loss.detach()), parts, batch.tokens, seconds)
                done = step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{window.mean_loss():.3f}")
                epoch = done / job.schedule.per_epoch
                if done % settings.log_every == 0 or done == job.total_steps:
                    record = window.flush(scheduler.get_last_lr()[0])
                    _write(curve, {"kind": "train", "step": done, "epoch": epoch, **record})
                if done % settings.validate_every == 0 or done == job.total_steps:
                    measured = job.curve.measure(model, job.batch_tokens)
                    _write(curve, {"kind": "validation", "step": done, "epoch": epoch, **measured})
                    bar.write(
                        f"step {done}: {measured['babi_tasks_passed_chain']} bAbI tasks passed "
                        f"(chain), mean answer accuracy {measured['babi_mean_answer']}"
                    )
                if stop.requested or done % settings.checkpoint_every == 0:
                    _checkpoint(job, optimizer, scheduler, done)
                if stop.requested:
                    raise TrainingInterrupted(
                        f"{job.folder}: stopped by {stop.requested} after step {done} of "
                        f"{job.total_steps}; the checkpoint is saved: rerun with --resume"
                    )
    finally:
        bar.close()
        curve.close()
    _save_model(job)
    return {
        "steps": job.total_steps,
        "resumed_from_step": start,
        "epochs": job.total_steps / job.schedule.per_epoch,
        "batches_per_epoch": job.schedule.per_epoch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "throughput_after_warmup": speed.to_dict(),
    }


class _Window:
    """Losses and speed since the last training record."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.parts: dict[str, list[float]] = {}
        self.tokens = 0
        self.seconds = 0.0

    def add(self, loss: float, parts: dict[str, float], tokens: int, seconds: float) -> None:
        self.losses.append(loss)
        for name, value in parts.items():
            self.parts.setdefault(name, []).append(value)
        self.tokens += tokens
        self.seconds += seconds

    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses)

    def flush(self, lr: float) -> dict[str, float]:
        record = {
            "loss": self.mean_loss(),
            **{name: sum(v) / len(v) for name, v in self.parts.items()},
            "lr": lr,
            "tokens_per_second": self.tokens / self.seconds if self.seconds else 0.0,
        }
        self.__init__()
        return record


def _resume(job: TrainingJob, optimizer: Any, scheduler: Any) -> int:
    """Load the newest checkpoint (none yet: start at step 0); return its step."""
    path = latest_checkpoint(job.folder)
    if path is None:
        _truncate_curve(job.folder / CURVE, 0)
        return 0
    state = load_checkpoint(path, job.digest)
    job.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"])
    _truncate_curve(job.folder / CURVE, state["step"])
    return int(state["step"])


def _checkpoint(job: TrainingJob, optimizer: Any, scheduler: Any, step: int) -> None:
    save_checkpoint(
        job.folder,
        step,
        {
            "model": job.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "digest": job.digest,
            "epoch": step / job.schedule.per_epoch,
        },
    )


def _truncate_curve(path: Path, step: int) -> None:
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(line + "\n" for line in kept))
    os.replace(partial, path)


def _write(curve: Any, record: dict[str, Any]) -> None:
    curve.write(json.dumps(record) + "\n")
    curve.flush()


def _save_model(job: TrainingJob) -> None:
    """The Hugging Face folder with the tokenizer, written aside and renamed into place."""
    final = job.folder / MODEL
    staging = job.folder / f".{MODEL}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    job.model.save_pretrained(staging, safe_serialization=True)
    shutil.copyfile(job.tokenizer_file, staging / "tokenizer.json")
    shutil.rmtree(final, ignore_errors=True)  # left by a run stopped before its stage ended
    os.replace(staging, final)


class _StopRequest:
    requested: str | None = None


@contextmanager
def _stop_signals() -> Iterator[_StopRequest]:
    """Turn SIGINT/SIGTERM into a request to stop after the current step (main thread only:
    elsewhere Python cannot install handlers, and the default behaviour stays)."""
    request = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(number: int, frame: Any) -> None:
        request.requested = signal.Signals(number).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
