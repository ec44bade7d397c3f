"""Continuous batching: generations started from several threads decode together, one token
of each per pass over the weights; a generation joins at the next pass, once its prompt is
prefilled, and leaves when it ends.

    >>> with engine.batch_session() as batch:      # the engine is held while it is open
    ...     # in each of several threads (a server's requests):
    ...     for piece in engine.chat_stream(messages, params, batch=batch): ...

One thread, the session's, makes every call into the engine. A generation's thread asks it
to prefill its prompt (in a sequence of its own) or to run its next token, and waits for the
logits. A pass runs once every generation of the session is waiting (each needs its logits
before it can pick its next token), so their tokens share it; one that is late (its thread
busy elsewhere) is not waited for beyond STRAGGLER_WAIT_S. Prefills and closes run as they
come, between passes. Each generation samples with a sampler of its own, so what it
generates does not depend on the others: greedy and seeded results equal generating alone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .batch_generation import SequenceLogits
from .decode_loop import DecodeLoop

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .engine import PromptState
    from .sampling_params import SamplingParams

# How long a pass waits for a generation whose thread has not asked for its next token yet.
STRAGGLER_WAIT_S = 0.05


class SequenceRunner(Protocol):
    """Where one generation runs (Engine._run): hold what it needs, put its prompt in a
    sequence, make its decode loop, let go."""

    def exclusive(self) -> AbstractContextManager[None]: ...
    def start(self, ids: list[int], state: PromptState | None) -> int: ...  # tokens run
    def decode_loop(
        self, ids: list[int], p: SamplingParams, end_ids: frozenset[int], started: float
    ) -> tuple[DecodeLoop, Iterator[int]]: ...
    def close(self) -> None: ...


@dataclass(eq=False)
class _Call:
    """A request to the session's thread: ("prefill", ids), ("run", sequence, tokens) or
    ("close", sequence); its result or error once done."""

    kind: str
    args: tuple[Any, ...]
    result: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


class BatchSession:
    def __init__(self, native: Any, engine_lock: threading.Lock) -> None:
        self._native = native
        self._engine_lock = engine_lock
        self._cond = threading.Condition()
        self._pending: list[_Call] = []
        self._members = 0  # generations between their prefill and their close
        self._open = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BatchSession:
        self._engine_lock.acquire()  # the engine runs nothing else meanwhile
        self._open = True
        self._thread = threading.Thread(target=self._drive, name="edge-reason-batch")
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._open = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._engine_lock.release()

    def serves(self, native: Any) -> bool:
        return self._open and native is self._native

    def member(self) -> SequenceRunner:
        return _Member(self)

    # ---- the generations' threads ---------------------------------------------------

    def call(self, kind: str, *args: Any) -> Any:
        """Hand a call to the session's thread and wait for its result."""
        request = _Call(kind, args)
        with self._cond:
            if not self._open:
                raise RuntimeError("the batch session is closed")
            self._pending.append(request)
            self._cond.notify_all()
            while not request.done:
                self._cond.wait()
        if request.error is not None:
            raise request.error
        return request.result

    # ---- the session's thread -------------------------------------------------------

    def _drive(self) -> None:
        while True:
            with self._cond:
                calls = self._next_calls()
                if calls is None:
                    return
            for request in calls:
                if request.kind != "run":
                    self._serve_one(request)
            runs = [r for r in calls if r.kind == "run"]
            if runs:
                self._serve_runs(runs)
            with self._cond:
                for request in calls:
                    request.done = True
                self._cond.notify_all()

    def _next_calls(self) -> list[_Call] | None:
        """The calls to serve next (holding the condition): prefills and closes at once;
        runs once every member waits, or after STRAGGLER_WAIT_S. None: the session closed."""
        while True:
            if not self._open:
                for request in self._pending:  # a closed session serves nothing more
                    request.error, request.done = RuntimeError("the batch session closed"), True
                self._pending.clear()
                self._cond.notify_all()
                return None
            runs = [r for r in self._pending if r.kind == "run"]
            if len(runs) < len(self._pending):  # prefills and closes first
                calls = [r for r in self._pending if r.kind != "run"]
                self._pending = runs
                return calls
            if runs and (len(runs) >= self._members or not self._cond.wait(STRAGGLER_WAIT_S)):
                if all(r.kind == "run" for r in self._pending):  # nothing else came meanwhile
                    calls, self._pending = self._pending, []
                    return calls
            elif not runs:
                self._cond.wait()

    def _serve_one(self, request: _Call) -> None:
        native = self._native
        try:
            if request.kind == "prefill":
                (ids,) = request.args
                sequence = native.open_sequence()
                try:
                    logits = native.extend(sequence, np.asarray(ids, dtype=np.int32))[0]
                except BaseException:
                    native.close_sequence(sequence)
                    raise
                self._members += 1
                request.result = (sequence, logits)
            else:  # close
                native.close_sequence(request.args[0])
                self._members -= 1
        except Exception as e:  # handed to the generation that asked
            request.error = e

    def _serve_runs(self, runs: list[_Call]) -> None:
        """One pass for every single-token run; a run of several tokens (inserted by a
        chat turn's budget forcing) goes alone."""
        native = self._native
        single = [r for r in runs if len(r.args[1]) == 1]
        for request in runs:
            if len(request.args[1]) > 1:
                try:
                    tokens = np.asarray(request.args[1], dtype=np.int32)
                    request.result = native.extend(request.args[0], tokens)[0]
                except Exception as e:
                    request.error = e
        if not single:
            return
        try:
            rows = native.decode(
                np.asarray([r.args[0] for r in single], dtype=np.int32),
                np.asarray([r.args[1][0] for r in single], dtype=np.int32),
            )
        except Exception as e:
            for request in single:
                request.error = e
            return
        for request, row in zip(single, rows, strict=True):
            request.result = row


class _Member:
    """One generation of a session (a SequenceRunner): its sequence and its logits."""

    def __init__(self, session: BatchSession) -> None:
        self._session = session
        self._sequence: int | None = None
        self._logits: np.ndarray | None = None
        self._view: SequenceLogits | None = None

    def exclusive(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # the session's thread serialises the engine

    def start(self, ids: list[int], state: PromptState | None) -> int:
        self._sequence, self._logits = self._session.call("prefill", ids)
        return len(ids)

    def decode_loop(
        self, ids: list[int], p: SamplingParams, end_ids: frozenset[int], started: float
    ) -> tuple[DecodeLoop, Iterator[int]]:
        assert self._logits is not None, "start() first"
        self._view = SequenceLogits(self._logits, p.seed)
        loop = DecodeLoop(self._view, self._run, ids, p, end_ids, started)
        return loop, iter(loop)

    def _run(self, tokens: list[int]) -> None:
        assert self._view is not None
        self._view.logits = self._session.call("run", self._sequence, tokens)

    def close(self) -> None:
        if self._sequence is not None:
            sequence, self._sequence = self._sequence, None
            with contextlib.suppress(RuntimeError):  # the session closed first
                self._session.call("close", sequence)
