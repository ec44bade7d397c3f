"""Deployment scenarios, each run against a local folder and over SSH to a real sshd,
into a folder whose name holds spaces and shell metacharacters."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from edge_reason.boards.bundle import BundleError
from edge_reason.boards.deploy import DeployError, deploy, rollback
from edge_reason.boards.smoke import run_smoke_test
from edge_reason.boards.transport import Target, TransportError
from edge_reason.boards.transport_local import LocalTarget
from edge_reason.boards.transport_ssh import SshAddress, SshOptions, SshTarget

HOSTILE_NAME = "device dir; $(touch pwned) `touch pwned` 'q' \"dq\" & *?#x"


class Clock:
    """Deploy times one minute apart, so version names never collide."""

    def __init__(self) -> None:
        self.time = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.time += timedelta(minutes=1)
        return self.time


@pytest.fixture(params=["local", "ssh"])
def device(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Target, Path]:
    """(target, the folder it writes on this machine)."""
    folder = tmp_path / HOSTILE_NAME
    if request.param == "local":
        return LocalTarget(folder), folder
    sshd = request.getfixturevalue("sshd")
    options = SshOptions(identity=sshd.identity, known_hosts=sshd.known_hosts)
    return SshTarget(SshAddress.parse(sshd.url(folder)), options), folder


@pytest.fixture
def smoke(fake_edge_reason: Path) -> Callable:
    return functools.partial(run_smoke_test, program=str(fake_edge_reason))


def deploy_all(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, **kw
) -> list[str]:
    clock = Clock()
    return [deploy(b, device[0], smoke, now=clock, **kw).active for b in bundles]


def active_files(folder: Path) -> dict[str, bytes]:
    current = folder / "current"
    return {
        p.relative_to(current).as_posix(): p.read_bytes()
        for p in sorted(current.rglob("*"))
        if p.is_file()
    }


def bundle_files(bundle: Path) -> dict[str, bytes]:
    return {
        p.relative_to(bundle).as_posix(): p.read_bytes()
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }


def test_deploy_activates_a_verified_version_and_smoke_tests_it(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, tmp_path: Path
) -> None:
    target, folder = device
    report = deploy(bundles[0], target, smoke, now=Clock())
    assert report.previous is None and report.pruned == []
    assert os.readlink(folder / "current") == f"versions/{report.active}"
    assert report.active.startswith("20250101T120100Z-")
    assert active_files(folder) == bundle_files(bundles[0])
    assert report.smoke.ok and report.smoke.board == "raspberry-pi-4"
    assert report.smoke.steps[1].output == "Hello there"
    assert not (tmp_path / "pwned").exists() and not (Path.home() / "pwned").exists()


def test_rollback_restores_the_previous_version(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable
) -> None:
    target, folder = device
    first, second = deploy_all(device, bundles[:2], smoke)
    assert active_files(folder) == bundle_files(bundles[1])
    report = rollback(target, smoke)
    assert (report.active, report.previous) == (first, second)
    assert active_files(folder) == bundle_files(bundles[0])
    assert report.smoke.ok
    with pytest.raises(DeployError, match="is the oldest version"):
        rollback(target, smoke)


def test_an_interrupted_transfer_leaves_the_previous_version_active(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, interrupt_upload: Callable
) -> None:
    target, folder = device
    (first,) = deploy_all(device, bundles[:1], smoke)
    interrupt_upload(target, 1)
    with pytest.raises(TransportError, match="connection lost"):
        deploy(bundles[1], target, smoke)
    assert os.listdir(folder / "versions") == [first]
    assert active_files(folder) == bundle_files(bundles[0])


def test_a_file_tampered_with_on_the_target_is_refused(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, tamper_upload: Callable
) -> None:
    target, folder = device
    (first,) = deploy_all(device, bundles[:1], smoke)
    tamper_upload(target, "model.bin")
    with pytest.raises(DeployError, match=r"model.bin: sha256 on the target is [0-9a-f]{64}"):
        deploy(bundles[1], target, smoke)
    assert os.listdir(folder / "versions") == [first]
    assert active_files(folder) == bundle_files(bundles[0])


def test_a_bundle_with_a_missing_file_is_refused_before_upload(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable
) -> None:
    target, folder = device
    (bundles[0] / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="tokenizer.json: missing"):
        deploy(bundles[0], target, smoke)
    assert not folder.exists()


def test_keep_prunes_old_versions_but_never_the_active_or_previous_one(
    device: tuple[Target, Path],
    bundles: list[Path],
    smoke: Callable,
    make_bundle: Callable,
    tmp_path: Path,
) -> None:
    target, folder = device
    clock = Clock()
    names = [deploy(b, target, smoke, now=clock, keep=2).active for b in bundles]
    assert sorted(os.listdir(folder / "versions")) == names[1:]
    rollback(target, smoke)  # names[1] is active, names[2] the newest
    newest = make_bundle(tmp_path / "bundle3", {"model.bin": b"fourth"})
    report = deploy(newest, target, smoke, now=clock, keep=1)
    assert report.previous == names[1] and report.pruned == [names[2]]
    assert sorted(os.listdir(folder / "versions")) == [names[1], report.active]


def test_a_missing_edge_reason_on_the_device_is_a_failed_smoke_test(
    device: tuple[Target, Path], bundles: list[Path]
) -> None:
    target, folder = device
    smoke = functools.partial(run_smoke_test, program="edge-reason-not-installed-here")
    report = deploy(bundles[0], target, smoke)
    assert not report.smoke.ok
    assert "edge-reason-not-installed-here is not installed" in report.smoke.steps[0].error
    assert active_files(folder) == bundle_files(bundles[0])  # the version is active all the same


def test_a_wheel_travels_with_the_bundle_and_is_checked_against_the_board(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, tmp_path: Path
) -> None:
    target, folder = device
    arm = (
        tmp_path / "edge_reason-0.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    )
    arm.write_bytes(b"PK arm wheel")
    report = deploy(bundles[0], target, smoke, board="raspberry-pi-4", wheel=arm)
    assert (folder / "current" / "wheels" / arm.name).read_bytes() == b"PK arm wheel"
    assert report.smoke.warnings == []
    intel = tmp_path / "edge_reason-0.1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    intel.write_bytes(b"PK x86 wheel")
    with pytest.raises(DeployError, match="not built for raspberry-pi-4 \\(aarch64\\)"):
        deploy(bundles[1], target, smoke, board="raspberry-pi-4", wheel=intel)


def test_deploying_the_same_bundle_twice_in_one_second_is_refused(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable
) -> None:
    target, _ = device
    moment = datetime(2025, 1, 1, tzinfo=timezone.utc)
    deploy(bundles[0], target, smoke, now=lambda: moment)
    with pytest.raises(DeployError, match="already exists"):
        deploy(bundles[0], target, smoke, now=lambda: moment)
