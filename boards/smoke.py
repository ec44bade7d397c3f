"""The smoke test run on a device right after a version is activated."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from .transport import COMMAND_NOT_FOUND, Target, TransportError

# Loading a model on a Pi Zero takes a while; a hung process must not hang deploy.
SMOKE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SmokeStep:
    """One command of the smoke test and how it ended."""

    command: list[str]
    ok: bool
    output: str
    error: str


@dataclass(frozen=True)
class SmokeReport:
    """Whether the freshly activated version answers on the device."""

    ok: bool
    steps: list[SmokeStep]
    board: str | None = None  # what `doctor` on the device says it is
    warnings: list[str] = field(default_factory=list)


def _step(target: Target, argv: Sequence[str]) -> SmokeStep:
    try:
        result = target.run(argv, cwd_rel=".", timeout=SMOKE_TIMEOUT_S)
    except TransportError as e:
        return SmokeStep(list(argv), False, "", str(e))
    if result.returncode == COMMAND_NOT_FOUND:
        error = f"{argv[0]} is not installed on {target.description} (command not found)"
        return SmokeStep(list(argv), False, result.stdout.strip(), error)
    ok = result.returncode == 0
    error = "" if ok else f"exit status {result.returncode}: {result.stderr.strip()}"
    return SmokeStep(list(argv), ok, result.stdout.strip(), error)


def run_smoke_test(
    target: Target, expected_board: str | None = None, program: str = "edge-reason"
) -> SmokeReport:
    """Run `doctor --json` and a four-token generation from `current` on the device.

    `program` is the edge-reason command on the device (tests point it at a fake).
    """
    doctor = _step(target, [program, "doctor", "--json"])
    if not doctor.ok:
        return SmokeReport(ok=False, steps=[doctor])
    try:
        board = json.loads(doctor.output).get("board")
    except (json.JSONDecodeError, AttributeError):
        bad = SmokeStep(
            doctor.command, False, doctor.output, "doctor --json did not print a JSON object"
        )
        return SmokeReport(ok=False, steps=[bad])
    warnings = []
    if expected_board and board != expected_board:
        warnings.append(f"deployed for {expected_board}, but doctor on the device reports {board}")
    generate = _step(
        target, [program, "generate", target.absolute("current"), "Hello", "--max-new-tokens", "4"]
    )
    return SmokeReport(ok=generate.ok, steps=[doctor, generate], board=board, warnings=warnings)
