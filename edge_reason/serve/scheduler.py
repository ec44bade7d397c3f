"""One engine, many clients: a bounded queue in front of up to ``max_running`` generations.

    >>> scheduler = Scheduler(max_queue=8, max_running=4)
    >>> scheduler.submit(job)     # raises QueueFull when 8 jobs already wait
    >>> scheduler.cancel(job)     # a client went away: drop it, or stop its generation

Jobs start in order of arrival, each in a thread of its own, while fewer than
``max_running`` run (the service decodes the running ones together in one batch session:
edge_reason/batch_session.py; with max_running 1 they run one after another). A job's
``start`` makes its Stream there; each piece the stream yields goes to the job's ``emit``,
then ``("done", Generation)`` or ``("error", exception)``. Nothing is shared between jobs
but the engine, in which every generation has a sequence of its own: no job sees another's
tokens.

Cancellation: ``cancel`` takes a waiting job out of the queue at once; a running one is
stopped after the piece being made (a token or two), by closing its Stream in its
thread, which ends the decode loop and frees its place. The next job then starts
without waiting for the cancelled one's max_tokens.

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
    def __init__(
        self,
        max_queue: int,
        on_finish: Callable[[Job, Any], None] | None = None,
        *,
        max_running: int = 1,
    ):
        """max_queue: jobs that may wait while max_running run (more are refused:
        QueueFull). on_finish(job, generation or exception): called in the job's thread
        after each job that ran (the metrics' hook)."""
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        if max_running < 1:
            raise ValueError(f"max_running must be >= 1, got {max_running}")
        self.max_queue = max_queue
        self.max_running = max_running
        self._on_finish = on_finish
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._running: dict[Job, threading.Thread] = {}
        self._closed = False
        self._recent = collections.deque(maxlen=16)  # seconds the last jobs ran
        self._thread = threading.Thread(target=self._dispatch, name="edge-reason-dispatch")
        self._thread.daemon = True
        self._thread.start()

    # ---- the clients' side (the event loop's thread) ---------------------------------

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            full = len(self._running) >= self.max_running
            if len(self._waiting) >= self.max_queue and (full or self._waiting):
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
        """Cancel every job and stop the threads."""
        with self._cond:
            self._closed = True
            for job in self._waiting:
                job.cancelled.set()
            self._waiting.clear()
            for job in self._running:
                job.cancelled.set()
            threads = list(self._running.values())
            self._cond.notify_all()
        self._thread.join(timeout)
        for thread in threads:
            thread.join(timeout)

    def _retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the recent mean, over
        the jobs that run at once."""
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        return max(1, round(mean * (len(self._waiting) + 1) / self.max_running))

    # ---- the dispatch thread and the jobs' threads -----------------------------------

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not (
                    self._waiting and len(self._running) < self.max_running
                ):
                    self._cond.wait()
                if self._closed:
                    return
                job = self._waiting.popleft()
                thread = threading.Thread(target=self._work, args=(job,), name="edge-reason-job")
                thread.daemon = True
                self._running[job] = thread
                thread.start()

    def _work(self, job: Job) -> None:
        started = time.monotonic()
        try:
            self._run(job)
        finally:
            with self._cond:
                del self._running[job]
                self._cond.notify_all()
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
