"""A stand-in for systemctl, for a machine without a running systemd (this container).

    python fake_systemctl.py STATE_DIR UNIT_DIR [--user] COMMAND [UNIT] [OPTIONS]

It records every call (STATE_DIR/calls.jsonl) and runs services for real: `restart`
stops the unit's process and starts its ExecStart= in a session of its own, with the
variables of its EnvironmentFile=, output into STATE_DIR/<unit>.log. As systemd does, it
runs the unit as it was at the last `daemon-reload` (a unit written after it is not
seen), so a deploy that forgets the reload runs the old command line. Commands:
daemon-reload, enable, disable, start, stop, restart, is-active, status, --version.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

_STOP_TIMEOUT_S = 20.0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited: nobody reaped it yet


def _unquote(value: str) -> list[str]:
    """ExecStart= words: double-quoted with C escapes; %% and $$ stand for % and $."""
    return shlex.split(value.replace("%%", "%").replace("$$", "$"))


def _unit_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    return fields


def _environment_file(path: str) -> dict[str, str]:
    variables = {}
    for line in Path(path.lstrip("-").replace("%%", "%")).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            (variables[key.strip()],) = shlex.split(value)
    return variables


class FakeSystemd:
    def __init__(self, state: Path, units: Path) -> None:
        self.state, self.units = state, units
        (state / "loaded").mkdir(parents=True, exist_ok=True)

    def pid(self, unit: str) -> int | None:
        path = self.state / f"{unit}.pid"
        return int(path.read_text()) if path.is_file() else None

    def active(self, unit: str) -> bool:
        pid = self.pid(unit)
        return pid is not None and _alive(pid)

    def daemon_reload(self) -> int:
        loaded = self.state / "loaded"
        for old in loaded.iterdir():
            old.unlink()
        for unit in self.units.glob("*.service"):
            shutil.copyfile(unit, loaded / unit.name)
        return 0

    def loaded(self, unit: str) -> str | None:
        path = self.state / "loaded" / unit
        return path.read_text() if path.is_file() else None

    def enable(self, unit: str) -> int:
        if self.loaded(unit) is None:
            print(f"Failed to enable unit: Unit file {unit} does not exist.", file=sys.stderr)
            return 1
        (self.state / f"{unit}.enabled").touch()
        return 0

    def disable(self, unit: str) -> int:
        (self.state / f"{unit}.enabled").unlink(missing_ok=True)
        return 0

    def stop(self, unit: str) -> int:
        pid = self.pid(unit)
        if pid is not None and _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_TIMEOUT_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        (self.state / f"{unit}.pid").unlink(missing_ok=True)
        return 0

    def start(self, unit: str) -> int:
        text = self.loaded(unit)
        if text is None:
            print(f"Failed to start {unit}: Unit {unit} not found.", file=sys.stderr)
            return 5
        if self.active(unit):
            return 0
        fields = _unit_fields(text)
        env = dict(os.environ)
        if "EnvironmentFile" in fields:
            env.update(_environment_file(fields["EnvironmentFile"]))
        with open(self.state / f"{unit}.log", "ab") as log:
            try:
                process = subprocess.Popen(
                    _unquote(fields["ExecStart"]),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd="/",
                    env=env,
                )
            except OSError as e:
                print(f"Job for {unit} failed: {e}", file=sys.stderr)
                return 1
        (self.state / f"{unit}.pid").write_text(str(process.pid))
        return 0

    def restart(self, unit: str) -> int:
        if self.loaded(unit) is None:
            print(f"Failed to restart {unit}: Unit {unit} not found.", file=sys.stderr)
            return 5
        self.stop(unit)
        return self.start(unit)

    def is_active(self, unit: str) -> int:
        print("active" if self.active(unit) else "inactive")
        return 0 if self.active(unit) else 3

    def status(self, unit: str) -> int:
        print(f"* {unit} - fake systemd")
        print(f"     Active: {'active (running)' if self.active(unit) else 'inactive (dead)'}")
        log = self.state / f"{unit}.log"
        if log.is_file():
            print("\n".join(log.read_text(errors="replace").splitlines()[-10:]))
        return 0 if self.active(unit) else 3


def main(argv: list[str]) -> int:
    state, units, *args = argv
    systemd = FakeSystemd(Path(state), Path(units))
    with open(Path(state) / "calls.jsonl", "a") as calls:
        calls.write(json.dumps(args) + "\n")
    words = [a for a in args if a != "--user"]
    command, units_named = words[0], [w for w in words[1:] if not w.startswith("-")]
    if command == "--version":
        print("systemd 252 (fake)")
        return 0
    if command == "daemon-reload":
        return systemd.daemon_reload()
    handler = getattr(systemd, command.replace("-", "_"))
    return max((handler(unit) for unit in units_named), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
