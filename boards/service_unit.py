"""The systemd unit `deploy --service` installs: its settings, checked, and its text.

The unit runs `edge-reason serve <deployment>/current` (templates in systemd/: a system
unit, run as a given user, with the file-system sandbox, and a user unit for `systemctl
--user`). The API key goes into an EnvironmentFile of mode 0600 beside `current`, which
`serve` reads as EDGE_REASON_API_KEY: never into the unit, which any user of the device
can read (`systemctl cat`), nor onto a command line (`ps`).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "systemd"
SCOPES = ("auto", "system", "user")
# What every unit written by deploy says, so a unit it did not write is never overwritten.
MARKER = "written by `edge-reason deploy --service`"
API_KEY_VARIABLE = "EDGE_REASON_API_KEY"
DEFAULT_NAME = "edge-reason"
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
# Loading a model on a Pi Zero takes a while; a process that never answers must not
# hang the deploy.
DEFAULT_HEALTH_TIMEOUT_S = 120.0

# No "@" (a template unit) nor "\\" (systemd's escapes): a plain name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_HOST = re.compile(r"[A-Za-z0-9_.:-]{1,253}")
_PORT_ARGUMENT = re.compile(r'"--port" "(\d+)"')
_HOST_ARGUMENT = re.compile(r'"--host" "([^"]*)"')


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs. `model_name` is the model's id in the API (deploy uses the
    bundle folder's name when it is None); `scope` "auto" is a system unit when deploying
    as root, a user unit otherwise; `user` (system units only) runs the service as
    another user than the deploying one. `program` (edge-reason), `systemctl` and
    `unit_dir` are on the device (unit_dir None: systemd's folder for the scope)."""

    name: str = DEFAULT_NAME
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    threads: int | None = None
    max_queue: int | None = None
    max_batch: int | None = None
    api_key: str | None = field(default=None, repr=False)
    model_name: str | None = None
    scope: str = "auto"
    user: str | None = None
    program: str = "edge-reason"
    systemctl: str = "systemctl"
    unit_dir: str | None = None
    health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name.endswith(".service"):
            raise ValueError(
                f"service name {self.name!r}: use letters, digits, '.', '_' and '-' "
                "(up to 64, without .service)"
            )
        _check_number("port", self.port, 1, 65535)
        if not _HOST.fullmatch(self.host):
            raise ValueError(f"host {self.host!r} is not an address or host name")
        if self.threads is not None:
            _check_number("threads", self.threads, 1, 256)
        if self.max_queue is not None:
            _check_number("max queue", self.max_queue, 0, 1_000_000)
        if self.max_batch is not None:
            _check_number("max batch", self.max_batch, 1, 64)
        if self.api_key is not None and not re.fullmatch(r"[^\x00-\x1f\x7f'\\]+", self.api_key):
            raise ValueError(
                "the API key must be one line of printable characters without ' or \\ "
                "(it is written single-quoted into the service's EnvironmentFile)"
            )
        if self.model_name is not None:
            _check_text("model name", self.model_name)
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.user is not None:
            if not _USER.fullmatch(self.user):
                raise ValueError(f"{self.user!r} is not a user name")
            if self.scope == "user":
                raise ValueError(
                    "a user unit runs as its owner: a service user needs a system unit"
                )
        _check_text("program", self.program)
        _check_text("systemctl", self.systemctl)
        if self.unit_dir is not None and not posixpath.isabs(self.unit_dir):
            raise ValueError(f"unit folder {self.unit_dir!r} must be an absolute path")
        if not self.health_timeout_s > 0:
            raise ValueError(f"health timeout must be positive, got {self.health_timeout_s}")

    @property
    def unit_name(self) -> str:
        return f"{self.name}.service"


def reachable_host(host: str) -> str:
    """Where a client on the device reaches a server bound to `host`: loopback for a
    wildcard address."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(host, host)


def _check_number(what: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer from {low} to {high}, got {value!r}")


def _check_text(what: str, value: str) -> None:
    if not value or re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError(f"{what} {value!r} must be one line of printable characters")


@dataclass(frozen=True)
class UnitPlacement:
    """Where the unit lives and what it runs, as found on the device."""

    scope: str  # "system" or "user"
    unit_dir: str
    root: str  # the deployment folder
    program: str  # the absolute path of edge-reason on the device
    user: str  # who runs the service

    def unit_path(self, settings: ServiceSettings) -> str:
        return posixpath.join(self.unit_dir, settings.unit_name)

    def environment_path(self, settings: ServiceSettings) -> str:
        return posixpath.join(self.root, f"{settings.name}.env")


def serve_arguments(
    settings: ServiceSettings, model: str, host: str | None = None, port: int | None = None
) -> list[str]:
    """`serve`'s command line, the same for the trial run and the unit (without the
    address when host and port are None)."""
    argv = ["serve", model]
    if host is not None and port is not None:
        argv += ["--host", host, "--port", str(port)]
    if settings.model_name is not None:
        argv += ["--model-name", settings.model_name]
    if settings.threads is not None:
        argv += ["--threads", str(settings.threads)]
    if settings.max_queue is not None:
        argv += ["--max-queue", str(settings.max_queue)]
    if settings.max_batch is not None:
        argv += ["--max-batch", str(settings.max_batch)]
    return argv


def systemd_quote(word: str) -> str:
    """`word` as one argument of ExecStart=: double-quoted with C escapes, and '%'
    (specifiers) and '$' (variables) doubled, so systemd passes it on literally."""
    _check_text("argument", word)
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def render_unit(settings: ServiceSettings, placement: UnitPlacement) -> str:
    """The unit's text."""
    model = posixpath.join(placement.root, "current")
    argv = [placement.program, *serve_arguments(settings, model, settings.host, settings.port)]
    environment = placement.environment_path(settings)
    _check_text("environment file", environment)
    template = "edge-reason.service" if placement.scope == "system" else "edge-reason-user.service"
    text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(
        name=settings.name,
        host=settings.host,
        port=settings.port,
        user=placement.user,
        exec_start=" ".join(systemd_quote(w) for w in argv),
        environment_file=environment.replace("%", "%%"),
    )
    assert MARKER in text, f"{template} must say it is {MARKER}"
    return text


def render_environment(settings: ServiceSettings) -> str:
    """The EnvironmentFile's text: the API key, if any."""
    lines = [f"# {settings.unit_name}'s environment, {MARKER} (mode 0600)"]
    if settings.api_key is not None:
        lines.append(f"{API_KEY_VARIABLE}='{settings.api_key}'")
    return "\n".join(lines) + "\n"


def unit_address(text: str) -> tuple[str, int] | None:
    """The (host, port) a unit written by deploy serves on; None for any other text."""
    if MARKER not in text:
        return None
    port, host = _PORT_ARGUMENT.search(text), _HOST_ARGUMENT.search(text)
    if port is None or host is None:
        return None
    return host[1], int(port[1])
