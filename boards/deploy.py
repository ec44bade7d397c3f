"""Safe deployment of a bundle onto a device, and rollback.

Layout of a deployment folder:

    versions/<UTC time>-<hash>/    one folder per deployed version
    versions/<name>.partial/       an upload in progress (never active)
    versions/.trash-<...>/         a version being deleted (never listed as a version)
    current -> versions/<name>     the active version, switched by an atomic rename
    .deploy.lock                   held by the deploy or rollback in progress

The link is relative, so a folder deployed onto a mounted SD card still resolves
when the card is back in the board under another mount point. Nothing is ever
written into an existing version: a running engine may have its files mapped, and
truncating a mapped file kills that process with SIGBUS.

With a service (ServiceSettings), a new version must first answer /health on a spare
port before `current` switches to it, and the service (a systemd unit running
`edge-reason serve <folder>/current`, service.py) must answer /health once restarted,
or the previous version, unit and service come back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..bundle_manifest import MANIFEST_NAME, BundleError, file_sha256, parse_manifest
from .bundle import load_bundle, verify_bundle
from .deploy_error import DeployError
from .deploy_lock import deploy_lock
from .health import HealthCheck, one_line, trial_run
from .memory import memory_budget
from .profiles import load_profile
from .service import DeviceService, ServiceReport, inspect_service
from .service_unit import ServiceSettings, render_environment, render_unit, serve_arguments
from .smoke import SmokeReport
from .transport import Target, TransportError
from .transport_local import LocalTarget
from .transport_ssh import SshAddress, SshOptions, SshTarget

VERSIONS = "versions"
CURRENT = "current"
PARTIAL_SUFFIX = ".partial"
TRASH_PREFIX = ".trash-"
WHEELS = "wheels"
_VERSION_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{12}")
_MIB = 1024 * 1024

SmokeTest = Callable[[Target], SmokeReport]


@dataclass(frozen=True)
class DeployReport:
    """What a deploy or rollback did."""

    target: str
    active: str  # the version now active
    previous: str | None  # the version active before
    pruned: list[str] = field(default_factory=list)
    smoke: SmokeReport | None = None
    service: ServiceReport | None = None  # with --service, which replaces the smoke test


def open_target(target: str, ssh_options: SshOptions | None = None) -> Target:
    """`ssh://user@host[:port]/path` or a local folder."""
    if target.startswith("ssh://"):
        return SshTarget(SshAddress.parse(target), ssh_options or SshOptions())
    return LocalTarget(Path(target))


def _versions(target: Target) -> list[str]:
    """Complete versions, oldest first (their names start with the UTC time)."""
    return sorted(n for n in target.list_dir(VERSIONS) if _VERSION_NAME.fullmatch(n))


def _active(target: Target) -> str | None:
    link = target.read_link(CURRENT)
    return posixpath.basename(link.rstrip("/")) if link else None


def _previous(versions: list[str], version: str | None) -> str | None:
    if version not in versions:
        return None
    index = versions.index(version)
    return versions[index - 1] if index > 0 else None


def _check_board(board: str, total_bytes: int, wheel: Path | None) -> None:
    profile = load_profile(board)
    budget = memory_budget(profile)
    if total_bytes > budget:
        raise DeployError(
            f"the bundle is {total_bytes // _MIB} MB but {board} has {budget // _MIB} MB for a "
            f"model ({profile.ram_mb} MB RAM less {profile.headroom_mb} MB headroom)"
        )
    if wheel is not None:
        platform_tag = wheel.name.removesuffix(".whl").split("-")[-1]
        if platform_tag != "any" and profile.arch not in platform_tag:
            raise DeployError(f"wheel {wheel.name} is not built for {board} ({profile.arch})")


def _uploads(bundle_dir: Path, wheel: Path | None) -> dict[str, tuple[Path, str]]:
    """Target name -> (local file, expected sha256), after checking the bundle locally."""
    bundle = load_bundle(bundle_dir)
    verify_bundle(bundle)
    uploads = {f.name: (bundle.root / f.name, f.sha256) for f in bundle.files}
    uploads[MANIFEST_NAME] = (bundle.manifest_path, file_sha256(bundle.manifest_path))
    if wheel is not None:
        if not wheel.is_file() or wheel.suffix != ".whl":
            raise DeployError(f"{wheel}: not a wheel file")
        name = posixpath.join(WHEELS, wheel.name)
        if name in uploads:
            raise DeployError(f"the bundle already has a file {name}: cannot add the wheel there")
        uploads[name] = (wheel, file_sha256(wheel))
    return uploads


def _version_name(uploads: dict[str, tuple[Path, str]], now: datetime) -> str:
    digest = hashlib.sha256()
    for name, (_, sha) in sorted(uploads.items()):
        digest.update(f"{name}\0{sha}\0".encode())
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:12]}"


def _mismatches(target: Target, folder: str, expected: dict[str, str]) -> list[str]:
    """How the files in `folder` on the target differ from their expected sha256."""
    on_target = target.sha256([posixpath.join(folder, name) for name in expected])
    problems = []
    for name, sha in expected.items():
        found = on_target.get(posixpath.join(folder, name))
        if found is None:
            problems.append(f"{name}: missing on the target")
        elif found != sha:
            problems.append(f"{name}: sha256 on the target is {found}, expected {sha}")
    return problems


def _upload_and_verify(target: Target, folder: str, uploads: dict[str, tuple[Path, str]]) -> None:
    dirs = {posixpath.dirname(posixpath.join(folder, name)) for name in uploads}
    target.make_dirs(sorted(dirs))
    for name, (local, _) in uploads.items():
        target.upload_file(local, posixpath.join(folder, name))
    problems = _mismatches(target, folder, {name: sha for name, (_, sha) in uploads.items()})
    if problems:
        raise DeployError(f"verification on {target.description} failed: " + "; ".join(problems))


def _version_problems(target: Target, version: str) -> list[str]:
    """How a version on the device differs from its own manifest: checked again before
    it is activated later, since it may have been damaged since its deploy."""
    folder = posixpath.join(VERSIONS, version)
    text = target.read_text(posixpath.join(folder, MANIFEST_NAME))
    if text is None:
        return [f"{MANIFEST_NAME}: missing on the target"]
    try:
        files = parse_manifest(text, MANIFEST_NAME)
    except BundleError as e:
        return [str(e)]
    return _mismatches(target, folder, {f.name: f.sha256 for f in files})


def _delete_version(target: Target, version: str) -> None:
    """Rename, then delete: a deletion cut short leaves a `.trash-` folder, which is
    never listed as a version, rather than a version with files missing."""
    trash = posixpath.join(VERSIONS, f"{TRASH_PREFIX}{secrets.token_hex(4)}-{version}")
    target.rename(posixpath.join(VERSIONS, version), trash)
    target.remove_tree(trash)


def _clear_leftovers(target: Target) -> None:
    """Remove the uploads and deletions a killed deploy left behind (none is a version)."""
    for name in target.list_dir(VERSIONS):
        if name.endswith(PARTIAL_SUFFIX) or name.startswith(TRASH_PREFIX):
            target.remove_tree(posixpath.join(VERSIONS, name))


def _prune(target: Target, keep: int, active: str, previous: str | None) -> list[str]:
    versions = _versions(target)
    protected = set(versions[-keep:]) | {active} | ({previous} if previous else set())
    pruned = [v for v in versions if v not in protected]
    for version in pruned:
        _delete_version(target, version)
    return pruned


def deploy(
    bundle_dir: Path,
    target: Target,
    smoke_test: SmokeTest,
    board: str | None = None,
    wheel: Path | None = None,
    keep: int = 3,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    service: ServiceSettings | None = None,
) -> DeployReport:
    """Upload a bundle (and wheel) as a new version, verify it on the target, activate it
    and smoke-test it, holding the target's deploy lock throughout. On any failure
    before activation the previous version stays active and the partial upload is
    removed.

    With `service`, the smoke test gives way to the service's health checks: the new
    version must answer /health on a spare port before it is activated, then the
    service is installed or updated and restarted, and must answer /health; if it does
    not, the previous version (and unit) come back and DeployError says so. The
    service's model name defaults to the bundle folder's name."""
    if keep < 1:
        raise DeployError(f"--keep must be at least 1, got {keep}")
    uploads = _uploads(Path(bundle_dir), wheel)
    if board is not None:
        _check_board(board, sum(local.stat().st_size for local, _ in uploads.values()), wheel)
    if service is not None and service.model_name is None:
        service = dataclasses.replace(service, model_name=Path(bundle_dir).resolve().name)
    with deploy_lock(target):
        _clear_leftovers(target)
        previous = _active(target)
        # before the upload: a device that cannot run the service is refused at once
        device = inspect_service(target, service) if service is not None else None
        version = _version_name(uploads, now())
        if version in _versions(target):
            raise DeployError(f"version {version} already exists on {target.description}")
        _install(target, version, uploads, activate=device is None)
        if device is None:
            pruned = _prune(target, keep, version, previous)
            return DeployReport(target.description, version, previous, pruned, smoke_test(target))
        report = _go_live(target, version, previous, device)
        pruned = _prune(target, keep, version, previous)
        return DeployReport(target.description, version, previous, pruned, service=report)


def _go_live(
    target: Target, version: str, previous: str | None, device: DeviceService
) -> ServiceReport:
    """Try the installed (inactive) `version` on a spare port, activate it and restart
    the service with it; put the previous version and service back if it fails."""
    settings = device.settings
    folder = posixpath.join(VERSIONS, version)
    stays = f"{previous} stays active" if previous else "nothing was active before"
    try:
        trial = trial_run(
            target,
            device.python,
            device.placement.program,
            serve_arguments(settings, target.absolute(folder)),
            settings.health_timeout_s,
        )
    except BaseException:
        _delete_version(target, version)
        raise
    if not trial.ok:
        _delete_version(target, version)
        raise DeployError(
            f"the new version {version} failed its health check on {target.description} "
            f"and is removed ({stays}): `{settings.program} serve` {trial.problem}"
            + _log_end(trial)
        )
    try:
        target.replace_symlink(CURRENT, folder)
        live = device.go_live(render_unit(settings, device.placement), render_environment(settings))
    except BaseException as failure:  # also Ctrl-C: the previous version comes back first
        message = _roll_back(target, version, previous, device, str(failure) or repr(failure))
        if not isinstance(failure, Exception):
            raise
        raise DeployError(message) from failure
    if not live.ok:
        raise DeployError(
            _roll_back(target, version, previous, device, live.problem + _log_end(live))
        )
    return ServiceReport(
        name=settings.unit_name,
        scope=device.placement.scope,
        unit_path=device.unit_path,
        environment_file=device.environment_path,
        url=device.url,
        api_key=settings.api_key is not None,
        trial=trial,
        live=live,
        warnings=device.warnings,
    )


def _log_end(check: HealthCheck) -> str:
    return f"; its log ends: {one_line(check.log)}" if check.log else ""


def _roll_back(
    target: Target, version: str, previous: str | None, device: DeviceService, why: str
) -> str:
    """The service failed with `version`: make `previous` active again (or none, as
    before), remove `version`, put the unit back and restart it; return the one-line
    error saying what failed and how the rollback went (DeployError if it failed)."""
    unit = device.settings.unit_name
    try:
        if previous is None:
            target.remove_tree(CURRENT)
        else:
            target.replace_symlink(CURRENT, posixpath.join(VERSIONS, previous))
        _delete_version(target, version)
        outcome = device.restore()
    except (OSError, TransportError, DeployError) as e:
        raise DeployError(
            f"{unit} failed with the new version {version} on {target.description} ({why}) "
            f"and rolling back failed too: {e}"
        ) from e
    back = f"rolled back to {previous}" if previous else "rolled back to no active version"
    return (
        f"{unit} failed with the new version {version} on {target.description}: {why}; "
        f"{back}, {version} is removed, and {outcome}"
    )


def _install(
    target: Target, version: str, uploads: dict[str, tuple[Path, str]], activate: bool = True
) -> None:
    """Upload into a new `.partial` folder, verify, rename it to `version` and (if
    `activate`) activate it."""
    final = posixpath.join(VERSIONS, version)
    staging = final + PARTIAL_SUFFIX
    try:
        _upload_and_verify(target, staging, uploads)
        target.rename(staging, final)
        staging = final
        if activate:
            target.replace_symlink(CURRENT, final)
    except BaseException as failure:  # also Ctrl-C: never leave a half-made version
        cleanup_error = _discard(target, staging, version)
        if cleanup_error:
            raise DeployError(
                f"deploy failed ({failure!r}) and removing {staging} failed too: {cleanup_error}"
            ) from failure
        raise


def _discard(target: Target, staging: str, version: str) -> str | None:
    """Remove the failed version, unless the link switch went through after all (a
    connection lost after the remote rename); return why removing failed, if it did."""
    final = posixpath.join(VERSIONS, version)
    try:
        if staging != final:
            target.remove_tree(staging)
        elif target.read_link(CURRENT) != final:
            _delete_version(target, version)
    except (OSError, TransportError) as e:
        return str(e)
    return None


def rollback(target: Target, smoke_test: SmokeTest) -> DeployReport:
    """Make the version before the active one active again, once its files match its
    manifest on the device, and smoke-test it; under the deploy lock."""
    with deploy_lock(target):
        versions = _versions(target)
        active = _active(target)
        if active is None:
            raise DeployError(f"{target.description} has no active version: nothing to roll back")
        older = _previous(versions, active)
        if older is None:
            raise DeployError(
                f"{active} is the oldest version on {target.description}: nothing to roll back to"
            )
        problems = _version_problems(target, older)
        if problems:
            raise DeployError(
                f"refusing to roll back to {older} on {target.description}: "
                + "; ".join(problems)
                + f" ({active} stays active)"
            )
        target.replace_symlink(CURRENT, posixpath.join(VERSIONS, older))
        return DeployReport(target.description, older, active, smoke=smoke_test(target))
