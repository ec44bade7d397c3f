"""Counters for GET /metrics, in Prometheus' text format (no client library needed)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

PREFIX = "edge_reason"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()  # (endpoint, status) -> count
        self.errors: Counter[str] = Counter()  # error type -> count
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.decode_seconds = 0.0
        self.generations = 0
        self.cancelled = 0
        self.last_tokens_per_second = 0.0

    def request(self, endpoint: str, status: int, error_type: str | None = None) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            if error_type is not None:
                self.errors[error_type] += 1

    def finished(self, outcome: Any) -> None:
        """A job the generation thread ran: a Generation, "cancelled" or an exception."""
        stats = getattr(outcome, "stats", None)
        with self._lock:
            if outcome == "cancelled":
                self.cancelled += 1
            if stats is None:
                return
            self.generations += 1
            self.prompt_tokens += stats.prompt_tokens
            self.generated_tokens += stats.generated_tokens
            self.decode_seconds += stats.decode_seconds
            self.last_tokens_per_second = stats.decode_tokens_per_second

    def render(self, *, waiting: int, running: int, max_queue: int, max_running: int) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {PREFIX}_{name} {help}")
            lines.append(f"# TYPE {PREFIX}_{name} {kind}")
            lines.extend(f"{PREFIX}_{name}{labels} {_number(v)}" for labels, v in samples)

        with self._lock:
            requests = [
                (f'{{endpoint="{e}",status="{s}"}}', n)
                for (e, s), n in sorted(self.requests.items())
            ]
            errors = [(f'{{type="{t}"}}', n) for t, n in sorted(self.errors.items())]
            rate = self.generated_tokens / self.decode_seconds if self.decode_seconds else 0.0
            metric("requests_total", "counter", "HTTP requests answered.", requests)
            metric("errors_total", "counter", "Requests answered with an error.", errors)
            metric("queue_waiting", "gauge", "Requests waiting for the engine.", [("", waiting)])
            metric("queue_capacity", "gauge", "Requests that may wait.", [("", max_queue)])
            metric("busy", "gauge", "1 while a generation runs.", [("", int(running > 0))])
            metric("running", "gauge", "Generations running (decoded together).", [("", running)])
            capacity = [("", max_running)]
            metric("running_capacity", "gauge", "Generations that may run at once.", capacity)
            metric(
                "generations_total", "counter", "Generations finished.", [("", self.generations)]
            )
            metric("cancelled_total", "counter", "Generations cancelled.", [("", self.cancelled)])
            metric("prompt_tokens_total", "counter", "Prompt tokens.", [("", self.prompt_tokens)])
            metric(
                "generated_tokens_total",
                "counter",
                "Tokens generated.",
                [("", self.generated_tokens)],
            )
            metric(
                "decode_seconds_total",
                "counter",
                "Seconds spent decoding.",
                [("", self.decode_seconds)],
            )
            metric("tokens_per_second", "gauge", "Decode speed over all generations.", [("", rate)])
            metric(
                "last_tokens_per_second",
                "gauge",
                "Decode speed of the last generation.",
                [("", self.last_tokens_per_second)],
            )
        return "\n".join(lines) + "\n"


def _number(v: float) -> str:
    return str(int(v)) if isinstance(v, int) or float(v).is_integer() else f"{v:.6g}"
