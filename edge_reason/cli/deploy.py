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


def _format_report(report: DeployReport, rollback: bool) -> str:
    verb = "rolled back to" if rollback else "activated"
    lines = [f"{verb} {report.active} on {report.target} (before: {report.previous or 'none'})"]
    if report.pruned:
        lines.append(f"pruned old versions: {', '.join(report.pruned)}")
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
    help="The edge-reason program on the device, for the smoke test.",
)
def deploy(
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
) -> None:
    """Copy BUNDLE to TARGET (ssh://user@host[:port]/path or a folder), verify every
    checksum there, switch `current` to it atomically and smoke-test it.

    `deploy --rollback TARGET` makes the previous version active again.
    """
    from edge_reason.boards import deploy as deploying
    from edge_reason.boards.smoke import run_smoke_test
    from edge_reason.boards.transport_ssh import SshOptions

    if rollback == (target is not None):
        raise click.UsageError("expected BUNDLE TARGET, or --rollback TARGET")
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
            )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        click.echo(_format_report(report, rollback))
    if report.smoke is not None and not report.smoke.ok:
        raise SystemExit(1)
