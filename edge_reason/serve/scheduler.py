"""One engine, many clients: a bounded queue in front of one generation thread.

    >>> scheduler = Scheduler(max_queue=8)
    >>> scheduler.submit(job)     # raises QueueFull when 8 jobs already wait
    >>> scheduler.cancel(job)     # a client went away: drop it, or stop its generation

The Engine runs one generation at a time (Engine._exclusive), so one thread, the
generation thread, runs them all, in order of arrival. A job's ``start`` makes its
Stream there; each piece the stream yields goes to the job's ``emit``, then ``("done",
Generation)`` or ``("error", exception)``. Nothing is shared between jobs but the engine,
which starts every generation from a fresh prompt: no job sees another's tokens.

Cancellation: ``cancel`` takes a waiting job out of the queue at once; a running one is
stopped after the piece being made (a token or two), by closing its Stream in the
generation thread, which ends the decode loop and frees the engine. The next job then
starts without waiting for the cancelled one's max_tokens.

Nothing here imports the web framework.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The queue holds max_queue waiting jobs; retry_after: seconds worth waiting."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy: retry in {retry_after} s")
        self.retry_after = retry_after


class DeadlineExceeded(Exception):
    """The request's time limit ran out while it waited in the queue."""


@dataclass(eq=False)
class Job:
    """start(time_left) -> a Stream, called in the generation thread with the seconds left
    of the request's time limit; emit(event) is called there with ("piece", piece),
    then ("done", generation) or ("error", exception), and must not block."""

    start: Callable[[float | None], Any]
    emit: Callable[[tuple[str, Any]], None]
    deadline: float | None = None  # time.monotonic() by which the request must end
    cancelled: threading.Event = field(default_factory=threading.Event)


class Scheduler:
    def __init__(self, max_queue: int, on_finish: Callable[[Job, Any], None] | None = None):
        """max_queue: jobs that may wait while one runs (more are refused: QueueFull).
        on_finish(job, generation or exception): called in the generation thread after
        each job that ran (the metrics' hook)."""
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        self.max_queue = max_queue
        self._on_finish = on_finish
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._running: Job | None = None
        self._closed = False
        self._recent = collections.deque(maxlen=16)  # seconds the last jobs ran
        self._thread = threading.Thread(target=self._work, name="edge-reason-generate")
        self._thread.daemon = True
        self._thread.start()

    # ---- the clients' side (the event loop's thread) ---------------------------------

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if len(self._waiting) >= self.max_queue and (self._running or self._waiting):
                raise QueueFull(self._retry_after())
            self._waiting.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Drop a waiting job, or stop a running one after its current piece."""
        job.cancelled.set()
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:
                pass  # running or already done: the generation thread sees the flag

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every job and stop the generation thread."""
        with self._cond:
            self._closed = True
            for job in self._waiting:
                job.cancelled.set()
            self._waiting.clear()
            if self._running is not None:
                self._running.cancelled.set()
            self._cond.notify()
        self._thread.join(timeout)

    def _retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the recent mean."""
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        return max(1, round(mean * (len(self._waiting) + 1)))

    # ---- the generation thread -------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._running = self._waiting.popleft()
            started = time.monotonic()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
                self._recent.append(time.monotonic() - started)

    def _run(self, job: Job) -> None:
        outcome: Any = None
        try:
            time_left = None if job.deadline is None else job.deadline - time.monotonic()
            if time_left is not None and time_left <= 0:
                raise DeadlineExceeded("the request's time limit ran out while it waited")
            stream = job.start(time_left)
            try:
                for piece in stream:
                    if job.cancelled.is_set():
                        break
                    job.emit(("piece", piece))
            finally:
                stream.close()  # ends the decode loop (a no-op once it has ended)
            if job.cancelled.is_set():
                outcome = "cancelled"
                return
            outcome = stream.generation
            job.emit(("done", outcome))
        except Exception as e:  # handed to the request, which answers it
            outcome = e
            job.emit(("error", e))
        finally:
            if self._on_finish is not None:
                self._on_finish(job, outcome)
