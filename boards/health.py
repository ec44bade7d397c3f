"""Whether `edge-reason serve` answers GET /health, asked on the device itself.

Each check is a short Python script run on the device over the transport (python3 is
there: edge-reason is a Python package), so what is checked is what a client on the
device sees, whatever the network between it and the deploying machine. It prints one
JSON object. Proxies are bypassed: the address is always the device's own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .transport import Target, TransportError

# Time on top of the check's own timeout for the script to start, stop serve and answer.
_MARGIN_S = 60.0
_LOG_LINES = 5

# The polling both checks share: until /health answers {"status": "ok"}, the timeout
# passes (the problem is then `late`, formatted), or exited() gives the status of a server
# that ended.
_POLL = r"""
import json, time, urllib.request
def poll(url, timeout, exited, result, late):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start, last = time.monotonic(), "nothing listening yet"
    while True:
        status = exited()
        if status is not None:
            result["problem"] = f"exited with status {status} without answering /health"
            return
        try:
            with opener.open(url, timeout=5) as reply:
                body = json.loads(reply.read())
            if isinstance(body, dict) and body.get("status") == "ok":
                result.update(ok=True, health=body)
                return
            last = f"/health answered {body!r}"
        except (OSError, ValueError) as e:
            last = str(getattr(e, "reason", None) or e)
        if time.monotonic() - start > timeout:
            result["problem"] = late.format(url=url, timeout=timeout, last=last)
            return
        time.sleep(0.25)
"""

# argv: timeout, then serve's command line without --host/--port. Starts it on a free
# loopback port in its own session (a wrapper's children are stopped with it), polls
# /health, stops it, and prints the outcome with the end of its log.
TRIAL_SCRIPT = (
    _POLL
    + r"""
import os, signal, socket, subprocess, sys, tempfile
timeout, argv = float(sys.argv[1]), sys.argv[2:]
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
argv += ["--host", "127.0.0.1", "--port", str(port)]
result = {"ok": False, "port": port, "problem": "", "health": None}
def interrupted(signum, frame):
    raise SystemExit(128 + signum)
signal.signal(signal.SIGTERM, interrupted)
signal.signal(signal.SIGHUP, interrupted)
log, child, start = tempfile.TemporaryFile(), None, time.monotonic()
try:
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    late = "did not answer /health within {timeout:g} s ({last})"
    poll(f"http://127.0.0.1:{port}/health", timeout, child.poll, result, late)
except OSError as e:
    result["problem"] = f"could not be started: {e.strerror or e}"
finally:
    if child is not None and child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        except ProcessLookupError:
            pass
    result["seconds"] = round(time.monotonic() - start, 2)
    log.seek(0, 2)
    log.seek(max(0, log.tell() - 8000))
    result["log"] = log.read().decode("utf-8", "replace")
    print(json.dumps(result))
"""
)

# argv: URL of /health, timeout. Polls until it answers {"status": "ok"}.
WAIT_SCRIPT = (
    _POLL
    + r"""
import sys
url, timeout = sys.argv[1], float(sys.argv[2])
result = {"ok": False, "problem": "", "health": None}
start = time.monotonic()
poll(url, timeout, lambda: None, result, "no answer on {url} within {timeout:g} s ({last})")
result["seconds"] = round(time.monotonic() - start, 2)
print(json.dumps(result))
"""
)


@dataclass(frozen=True)
class HealthCheck:
    """How a health check ended: what /health answered, or why it did not."""

    ok: bool
    seconds: float
    problem: str = ""
    health: dict[str, Any] | None = None
    port: int | None = None
    log: list[str] = field(default_factory=list)  # the last lines of serve's output


def last_lines(text: str, count: int = _LOG_LINES) -> list[str]:
    """The last `count` non-blank lines of a log."""
    return [line.rstrip() for line in text.splitlines() if line.strip()][-count:]


def one_line(lines: Sequence[str]) -> str:
    """Log lines joined for a one-line message."""
    return " | ".join(line.strip() for line in lines)


def _run_script(
    target: Target, python: str, script: str, args: Sequence[str], timeout: float
) -> HealthCheck:
    try:
        done = target.run([python, "-c", script, *args], cwd_rel=".", timeout=timeout + _MARGIN_S)
    except TransportError as e:
        return HealthCheck(False, 0.0, f"the health check did not finish: {e}")
    answer = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    try:
        result = json.loads(answer[0]) if answer else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        why = one_line(last_lines(done.stderr, 2)) or f"exit status {done.returncode}"
        return HealthCheck(False, 0.0, f"the health check script failed on the device: {why}")
    return HealthCheck(
        ok=bool(result.get("ok")),
        seconds=float(result.get("seconds", 0.0)),
        problem=str(result.get("problem", "")),
        health=result.get("health"),
        port=result.get("port"),
        log=last_lines(str(result.get("log", ""))),
    )


def trial_run(
    target: Target, python: str, program: str, serve_argv: Sequence[str], timeout: float
) -> HealthCheck:
    """Start `program serve_argv... --host 127.0.0.1 --port <free port>` on the device,
    wait up to `timeout` seconds for /health, and stop it."""
    return _run_script(
        target, python, TRIAL_SCRIPT, [f"{timeout:g}", program, *serve_argv], timeout
    )


def health_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"


def wait_healthy(target: Target, python: str, host: str, port: int, timeout: float) -> HealthCheck:
    """Poll /health at host:port on the device until it answers, for up to `timeout` s."""
    check = _run_script(
        target, python, WAIT_SCRIPT, [health_url(host, port), f"{timeout:g}"], timeout
    )
    return HealthCheck(check.ok, check.seconds, check.problem, check.health, port, check.log)
