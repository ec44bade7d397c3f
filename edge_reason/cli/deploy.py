"""`edge-reason deploy`: put a bundle onto a device safely, or roll back."""

from __future__ import annotations

import dataclasses
import functools
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import api_errors
from .options import json_flag

if TYPE_CHECKING:
    from edge_reason.boards.deploy import DeployReport
    from edge_reason.boards.service_unit import ServiceSettings


def _format_report(report: DeployReport, rollback: bool) -> str:
    verb = "rolled back to" if rollback else "activated"
    lines = [f"{verb} {report.active} on {report.target} (before: {report.previous or 'none'})"]
    if report.pruned:
        lines.append(f"pruned old versions: {', '.join(report.pruned)}")
    service = report.service
    if service is not None:
        model = (service.live.health or {}).get("model", "?")
        lines += [
            f"service {service.name} ({service.scope} unit {service.unit_path}) answers on "
            f"{service.url} (model {model}; /health after {service.live.seconds:g} s)",
            f"  before the switch, {report.active} answered /health on port {service.trial.port} "
            f"after {service.trial.seconds:g} s",
            f"  API key: {'in ' if service.api_key else 'none (set with --api-key), '}"
            f"{service.environment_file} (mode 0600)",
        ]
        lines += [f"warning: {w}" for w in service.warnings]
    smoke = report.smoke
    if smoke is not None:
        lines.append(f"smoke test: {'passed' if smoke.ok else 'FAILED'}")
        for step in smoke.steps:
            lines.append(f"  $ {shlex.join(step.command)}: {'ok' if step.ok else 'failed'}")
            lines += [f"    {line}" for line in (step.output or "").splitlines()[-5:]]
            if step.error:
                lines.append(f"    error: {step.error}")
        lines += [f"warning: {w}" for w in smoke.warnings]
        if not smoke.ok:
            lines.append(
                f"the new version is active; `edge-reason deploy --rollback {report.target}` "
                "goes back"
            )
    return "\n".join(lines)


@click.command()
@click.argument("bundle_or_target", metavar="BUNDLE TARGET")
@click.argument("target", required=False, metavar="")
@click.option("--rollback", is_flag=True, help="Activate the version before the active one.")
@click.option("--board", help="Board profile to check the bundle and wheel against.")
@click.option(
    "--wheel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An edge-reason wheel to copy along (into the version's wheels/ folder).",
)
@click.option("--keep", default=3, show_default=True, help="How many versions to keep.")
@json_flag()
@click.option(
    "--identity",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SSH private key.",
)
@click.option(
    "--known-hosts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SSH known_hosts file to check the host key against.",
)
@click.option(
    "--accept-new-host-key",
    is_flag=True,
    help="Trust a host seen for the first time (a changed key is still refused).",
)
@click.option(
    "--remote-command",
    default="edge-reason",
    show_default=True,
    help="The edge-reason program on the device, for the smoke test and the service.",
)
@click.option(
    "--service",
    is_flag=True,
    help="Run the bundle as a systemd service (`edge-reason serve`): the new version must "
    "answer /health on a spare port before the switch, and the restarted service after it, "
    "or the previous one comes back (docs/serve.md). Replaces the smoke test.",
)
@click.option("--port", type=click.IntRange(1, 65535), help="The service's port.  [default: 8080]")
@click.option("--host", help="The address the service binds.  [default: 127.0.0.1]")
@click.option("--threads", type=click.IntRange(1, 256), help="The service's threads.")
@click.option("--max-queue", type=click.IntRange(min=0), help="The service's --max-queue.")
@click.option("--max-batch", type=click.IntRange(1, 64), help="The service's --max-batch.")
@click.option(
    "--api-key",
    envvar="EDGE_REASON_API_KEY",
    help="The service's API key, kept in a mode-0600 EnvironmentFile on the device, not in "
    "the unit (env: EDGE_REASON_API_KEY).",
)
@click.option("--model-name", help="The model's id in the API.  [default: BUNDLE's folder name]")
@click.option("--service-name", help="The unit's name.  [default: edge-reason]")
@click.option(
    "--service-scope",
    type=click.Choice(["auto", "system", "user"]),
    help="A system unit (deploying as root) or a user unit (systemctl --user).  [default: auto: "
    "system as root, user otherwise]",
)
@click.option("--service-user", help="Who runs a system unit.  [default: the deploying user]")
@click.option(
    "--health-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for /health.  [default: 120]",
)
@click.option(
    "--systemctl",
    envvar="EDGE_REASON_SYSTEMCTL",
    help="The systemctl program on the device.  [default: systemctl]",
)
@click.option(
    "--unit-dir",
    envvar="EDGE_REASON_SYSTEMD_UNIT_DIR",
    help="Where the unit goes on the device.  [default: /etc/systemd/system, or "
    "~/.config/systemd/user for a user unit]",
)
@click.pass_context
def deploy(
    ctx: click.Context,
    bundle_or_target: str,
    target: str | None,
    rollback: bool,
    board: str | None,
    wheel: Path | None,
    keep: int,
    as_json: bool,
    identity: Path | None,
    known_hosts: Path | None,
    accept_new_host_key: bool,
    remote_command: str,
    service: bool,
    **service_options: object,
) -> None:
    """Copy BUNDLE to TARGET (ssh://user@host[:port]/path or a folder), verify every
    checksum there, switch `current` to it atomically and smoke-test it.

    `deploy --rollback TARGET` makes the previous version active again.

    `deploy BUNDLE TARGET --service` runs it as a systemd service on TARGET instead.
    """
    from edge_reason.boards import deploy as deploying
    from edge_reason.boards.smoke import run_smoke_test
    from edge_reason.boards.transport_ssh import SshOptions

    if rollback == (target is not None):
        raise click.UsageError("expected BUNDLE TARGET, or --rollback TARGET")
    given = _given(ctx, service_options)
    if given and not service:
        raise click.UsageError(f"{given[0]} applies to the service: add --service")
    if service and rollback:
        raise click.UsageError("--service applies to a deploy, not to --rollback")
    options = SshOptions(identity, known_hosts, accept_new_host_key)
    smoke = functools.partial(run_smoke_test, expected_board=board, program=remote_command)
    with api_errors():
        if rollback:
            report = deploying.rollback(deploying.open_target(bundle_or_target, options), smoke)
        else:
            report = deploying.deploy(
                Path(bundle_or_target),
                deploying.open_target(target, options),
                smoke,
                board=board,
                wheel=wheel,
                keep=keep,
                service=_service_settings(remote_command, service_options) if service else None,
            )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        click.echo(_format_report(report, rollback))
    if report.smoke is not None and not report.smoke.ok:
        raise SystemExit(1)


# option name -> ServiceSettings field
_SERVICE_FIELDS = {
    "port": "port",
    "host": "host",
    "threads": "threads",
    "max_queue": "max_queue",
    "max_batch": "max_batch",
    "api_key": "api_key",
    "model_name": "model_name",
    "service_name": "name",
    "service_scope": "scope",
    "service_user": "user",
    "health_timeout": "health_timeout_s",
    "systemctl": "systemctl",
    "unit_dir": "unit_dir",
}


def _given(ctx: click.Context, options: dict[str, object]) -> list[str]:
    """The service options given on the command line (not from the environment)."""
    return [
        f"--{name.replace('_', '-')}"
        for name in options
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]


def _service_settings(program: str, options: dict[str, object]) -> ServiceSettings:
    from edge_reason.boards.service_unit import ServiceSettings

    fields = {_SERVICE_FIELDS[k]: v for k, v in options.items() if v is not None}
    return ServiceSettings(program=program, **fields)
