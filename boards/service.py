"""The service on the device: what is there before a deploy, installing the unit and
restarting it, and putting back what was there when the new version fails.

Everything runs on the device through the transport: `systemctl` (the program named
by ServiceSettings.systemctl, so tests can stand in for systemd), a POSIX shell for
files outside the deployment folder, and python3 for the port and health checks.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from .deploy_error import DeployError
from .health import HealthCheck, health_url, last_lines, one_line, wait_healthy
from .service_unit import (
    MARKER,
    ServiceSettings,
    UnitPlacement,
    reachable_host,
    unit_address,
)
from .transport import COMMAND_NOT_FOUND, CommandResult, Target, TransportError

SYSTEM_UNIT_DIR = "/etc/systemd/system"
# A restart waits for the old process to stop (TimeoutStopSec=20 in the unit).
_COMMAND_TIMEOUT_S = 90.0
# `systemctl is-active`: 0 active, 3 anything else (inactive, failed, unknown unit).
_INACTIVE = 3
# `[ -f file ] || exit 3`: no such file.
_NO_SUCH_FILE = 3

# $1 path, $2 mode; the text on stdin. Written beside and renamed over: never half a unit.
# umask 077: the file is never readable by others, even before its chmod.
_WRITE = (
    'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1.$$.tmp"'
    ' && chmod "$2" "$1.$$.tmp" && mv -f -- "$1.$$.tmp" "$1" || { rm -f -- "$1.$$.tmp"; exit 1; }'
)
_READ = f'[ -f "$1" ] || exit {_NO_SUCH_FILE}; cat -- "$1"'
_REMOVE = 'rm -f -- "$1"'
_WHICH = 'command -v -- "$1"'
_USER_UNIT_DIR = 'printf "%s\\n" "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"'
# argv: host, port. Binds as uvicorn does (SO_REUSEADDR); prints why it cannot.
_BIND_SCRIPT = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as e:
        print(e.strerror or e)
        sys.exit(1)
"""


@dataclass(frozen=True)
class ServiceReport:
    """What `deploy --service` did with the service."""

    name: str  # the unit, e.g. edge-reason.service
    scope: str  # "system" or "user"
    unit_path: str
    environment_file: str
    url: str  # where the service answers on the device
    api_key: bool  # whether it asks for one (the key itself is only in environment_file)
    trial: HealthCheck  # the new version on a spare port, before the switch
    live: HealthCheck  # the service after its restart
    warnings: list[str] = field(default_factory=list)


def _sh(target: Target, script: str, *args: str, input: str | None = None) -> CommandResult:
    return target.run(["sh", "-c", script, "sh", *args], ".", _COMMAND_TIMEOUT_S, input=input)


def _output(target: Target, script: str, *args: str) -> str:
    """What a shell command prints on the device; DeployError if it fails."""
    done = _sh(target, script, *args)
    if done.returncode != 0:
        why = one_line(last_lines(done.stderr, 2)) or f"status {done.returncode}"
        raise DeployError(f"`{script}` failed on {target.description}: {why}")
    return done.stdout.strip()


def _which(target: Target, program: str) -> str | None:
    found = _sh(target, _WHICH, program)
    path = found.stdout.strip()
    return path if found.returncode == 0 and posixpath.isabs(path) else None


def _read(target: Target, path: str) -> str | None:
    done = _sh(target, _READ, path)
    if done.returncode == _NO_SUCH_FILE:
        return None
    if done.returncode != 0:
        raise DeployError(f"cannot read {path} on {target.description}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class DeviceService:
    """The service of one deployment folder on a device, as found before the deploy."""

    target: Target
    settings: ServiceSettings
    placement: UnitPlacement
    python: str  # python3 on the device, for the checks
    previous_unit: str | None  # the unit file as it was, None if there was none
    previous_environment: str | None
    was_active: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def unit_path(self) -> str:
        return self.placement.unit_path(self.settings)

    @property
    def environment_path(self) -> str:
        return self.placement.environment_path(self.settings)

    @property
    def url(self) -> str:
        host, port = reachable_host(self.settings.host), self.settings.port
        return health_url(host, port).removesuffix("/health")

    def systemctl(self, *args: str) -> CommandResult:
        scope = ["--user"] if self.placement.scope == "user" else []
        return self.target.run([self.settings.systemctl, *scope, *args], ".", _COMMAND_TIMEOUT_S)

    def go_live(self, unit: str, environment: str) -> HealthCheck:
        """Install the unit and its environment, reload systemd, enable and restart the
        service, and wait until it answers /health where the unit says."""
        self._write(self.environment_path, environment, "600")
        self._write(self.unit_path, unit, "644")
        for command in (["daemon-reload"], ["enable", self.settings.unit_name]):
            failed = self._failure(self.systemctl(*command), command)
            if failed:
                return failed
        return self._restart_and_check(self.settings.host, self.settings.port)

    def restore(self) -> str:
        """Put back the unit and environment found before the deploy, and the service's
        state then (running or not); say how that went."""
        unit = self.settings.unit_name
        if self.previous_unit is None:
            self.systemctl("stop", unit)
            self.systemctl("disable", unit)
            for path in (self.unit_path, self.environment_path):
                _sh(self.target, _REMOVE, path)
            self.systemctl("daemon-reload")
            return f"{unit} was not installed before and is removed"
        self._write(self.unit_path, self.previous_unit, "644")
        if self.previous_environment is None:
            _sh(self.target, _REMOVE, self.environment_path)
        else:
            self._write(self.environment_path, self.previous_environment, "600")
        reload = self._failure(self.systemctl("daemon-reload"), ["daemon-reload"])
        if reload:
            return f"its previous unit is back but {reload.problem}"
        if not self.was_active:
            self.systemctl("stop", unit)
            return f"its previous unit is back and {unit} is stopped, as it was"
        host, port = unit_address(self.previous_unit) or (self.settings.host, self.settings.port)
        check = self._restart_and_check(host, port)
        if check.ok:
            return f"{unit} answers /health again"
        log = f"; its log ends: {one_line(check.log)}" if check.log else ""
        return f"but {unit} does not answer /health either: {check.problem}{log}"

    def _restart_and_check(self, host: str, port: int) -> HealthCheck:
        unit = self.settings.unit_name
        failed = self._failure(self.systemctl("restart", unit), ["restart", unit])
        if failed:
            return failed
        check = wait_healthy(
            self.target, self.python, reachable_host(host), port, self.settings.health_timeout_s
        )
        if check.ok:
            state = self.systemctl("is-active", unit).stdout.strip() or "not active"
            if state != "active":
                check = HealthCheck(
                    False,
                    check.seconds,
                    f"{unit} is {state} while another process answers on port {port}",
                    check.health,
                    port,
                )
        if check.ok:
            return check
        return HealthCheck(False, check.seconds, check.problem, check.health, port, self.log())

    def log(self) -> list[str]:
        """The last lines of the service's log (from `systemctl status`)."""
        status = self.systemctl("status", self.settings.unit_name, "--no-pager", "--full")
        return last_lines(status.stdout)

    def _failure(self, done: CommandResult, command: Sequence[str]) -> HealthCheck | None:
        if done.returncode == 0:
            return None
        why = one_line(last_lines(done.stderr + done.stdout, 2)) or f"status {done.returncode}"
        return HealthCheck(False, 0.0, f"`systemctl {' '.join(command)}` failed: {why}")

    def _write(self, path: str, text: str, mode: str) -> None:
        done = _sh(self.target, _WRITE, path, mode, input=text)
        if done.returncode != 0:
            raise DeployError(
                f"cannot write {path} on {self.target.description}: {done.stderr.strip()}"
            )


def inspect_service(target: Target, settings: ServiceSettings) -> DeviceService:
    """Check, before anything is uploaded, that the device can run the service: who
    deploys (root: a system unit), edge-reason, python3 and systemctl installed, the
    unit either absent or written by deploy, and the port free (or the service's own)."""
    where = target.description
    uid = _output(target, "id -u")
    scope = settings.scope if settings.scope != "auto" else ("system" if uid == "0" else "user")
    if scope == "system" and uid != "0":
        raise DeployError(
            f"a system unit needs root on {where} (deploying as uid {uid}): deploy as root, "
            "or leave --service-scope at auto for a user unit"
        )
    user = settings.user or _output(target, "id -un")
    if settings.user is not None and _sh(target, 'id -u -- "$1"', user).returncode != 0:
        raise DeployError(f"there is no user {user} on {where} to run the service")
    program = _which(target, settings.program)
    if program is None:
        raise DeployError(
            f"{settings.program} is not installed on {where} (command not found): "
            "install edge-reason[serve] there, or name it with --remote-command"
        )
    python = _which(target, "python3")
    if python is None:
        raise DeployError(f"python3 is not installed on {where}: the health checks run with it")
    unit_dir = settings.unit_dir or (
        SYSTEM_UNIT_DIR if scope == "system" else _output(target, _USER_UNIT_DIR)
    )
    root = posixpath.normpath(target.absolute("."))
    placement = UnitPlacement(scope, unit_dir, root, program, user)
    service = DeviceService(target, settings, placement, python, None, None, False)
    state = service.systemctl("is-active", settings.unit_name)
    if state.returncode == COMMAND_NOT_FOUND:
        raise DeployError(
            f"{settings.systemctl} is not installed on {where}: --service needs systemd "
            "(or --systemctl naming its systemctl)"
        )
    if state.returncode not in (0, _INACTIVE):
        why = one_line(last_lines(state.stderr, 2)) or f"status {state.returncode}"
        if scope == "user":
            raise DeployError(
                f"{settings.systemctl} --user cannot reach {user}'s service manager on {where}: "
                f"{why} (it runs while {user} is logged in, or always once `sudo loginctl "
                f"enable-linger {user}` was run there)"
            )
        raise DeployError(f"{settings.systemctl} cannot reach systemd on {where}: {why}")
    service.was_active = state.returncode == 0
    service.previous_unit = _read(target, service.unit_path)
    if service.previous_unit is not None and MARKER not in service.previous_unit:
        raise DeployError(
            f"{service.unit_path} on {where} was not written by edge-reason deploy: "
            "choose another --service-name rather than overwrite it"
        )
    service.previous_environment = _read(target, service.environment_path)
    _check_port(service)
    if scope == "user":
        service.warnings += _linger_warning(target, user)
    if settings.host not in ("127.0.0.1", "::1", "localhost") and settings.api_key is None:
        service.warnings.append(
            f"the service listens on {settings.host} without an API key: "
            "anyone who can reach the device can use it"
        )
    return service


def _check_port(service: DeviceService) -> None:
    settings = service.settings
    bound = service.target.run(
        [service.python, "-c", _BIND_SCRIPT, settings.host, str(settings.port)],
        ".",
        _COMMAND_TIMEOUT_S,
    )
    if bound.returncode == 0:
        return
    old = unit_address(service.previous_unit) if service.previous_unit else None
    if service.was_active and old is not None and old[1] == settings.port:
        return  # the service itself holds it; the restart frees it
    why = one_line(last_lines(bound.stdout + bound.stderr, 1)) or f"status {bound.returncode}"
    raise DeployError(
        f"port {settings.port} on {settings.host} is taken on {service.target.description} "
        f"({why}): choose another --port"
    )


def _linger_warning(target: Target, user: str) -> list[str]:
    """A user's services stop when the user's last session ends, unless it lingers."""
    try:
        linger = target.run(
            ["loginctl", "show-user", user, "--property=Linger", "--value"], ".", 30
        )
    except TransportError:  # only a warning: no answer means none
        return []
    if linger.returncode == 0 and linger.stdout.strip() == "no":
        return [
            f"{user} does not linger: the user unit stops at logout and does not start at "
            f"boot (run `sudo loginctl enable-linger {user}` on the device)"
        ]
    return []
