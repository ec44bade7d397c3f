"""Deployment scenarios, each run against a local folder and over SSH to a real sshd,
into a folder whose name holds spaces and shell metacharacters."""

from __future__ import annotations

import copy
import functools
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from edge_reason.boards.deploy import TRASH_PREFIX, DeployError, deploy, rollback
from edge_reason.boards.smoke import run_smoke_test
from edge_reason.boards.transport import Target, TransportError
from edge_reason.boards.transport_local import LocalTarget
from edge_reason.boards.transport_ssh import SshAddress, SshOptions, SshTarget

from edge_reason.bundle_manifest import BundleError

HOSTILE_NAME = "device dir; $(touch pwned) `touch pwned` 'q' \"dq\" & *?#x"


class Clock:
    """Deploy times one minute apart, so version names never collide."""

    def __init__(self) -> None:
        self.time = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.time += timedelta(minutes=1)
        return self.time


# Over SSH each deploy takes seconds: those variants run in the slow tier (CI runs both);
# test_deploy_ssh.py keeps the SSH transport in the fast one.
@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.slow)])
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


def test_a_deploy_killed_while_pruning_leaves_no_version_that_looks_whole(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, monkeypatch
) -> None:
    target, folder = device
    clock = Clock()
    first, second = [deploy(b, target, smoke, now=clock).active for b in bundles[:2]]
    real_remove_tree = target.remove_tree

    def killed_halfway(rel: str) -> None:
        if TRASH_PREFIX in rel:  # the first files go, then the process dies
            (Path(target.absolute(rel)) / "tokenizer.json").unlink()
            raise KeyboardInterrupt
        real_remove_tree(rel)

    monkeypatch.setattr(target, "remove_tree", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        deploy(bundles[2], target, smoke, now=clock, keep=1)  # prunes `first`
    monkeypatch.undo()
    assert first not in os.listdir(folder / "versions")
    assert rollback(target, smoke).active == second
    with pytest.raises(DeployError, match="is the oldest version"):
        rollback(target, smoke)  # the half-deleted `first` is not a version
    deploy(bundles[0], target, smoke, now=clock)
    assert not [n for n in os.listdir(folder / "versions") if n.startswith(TRASH_PREFIX)]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [("delete", "tokenizer.json: missing on the target"), ("alter", "model.bin: sha256 on")],
)
def test_rollback_to_a_damaged_version_is_refused(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, damage: str, problem: str
) -> None:
    target, folder = device
    first, second = deploy_all(device, bundles[:2], smoke)
    if damage == "delete":
        (folder / "versions" / first / "tokenizer.json").unlink()
    else:
        with open(folder / "versions" / first / "model.bin", "r+b") as model:
            model.write(b"X")
    with pytest.raises(DeployError) as refused:
        rollback(target, smoke)
    message = str(refused.value)
    assert message.startswith(f"refusing to roll back to {first} on {target.description}: ")
    assert problem in message and message.endswith(f"({second} stays active)")
    assert "\n" not in message
    assert os.readlink(folder / "current") == f"versions/{second}"


def test_deploying_never_writes_into_an_existing_version(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, tmp_path: Path
) -> None:
    target, folder = device
    (first,) = deploy_all(device, bundles[:1], smoke)
    live = folder / "versions" / first

    def identities() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in live.rglob("*")}

    before = identities()
    deploy(bundles[1], target, smoke)
    rollback(target, smoke)
    deploy(bundles[2], target, smoke, keep=1)
    assert identities() == before  # an engine mapping these files keeps running
    with pytest.raises((OSError, TransportError)):
        target.upload_file(bundles[1] / "model.bin", f"versions/{first}/model.bin")
    assert (live / "model.bin").read_bytes() == (bundles[0] / "model.bin").read_bytes()


LOCK_HELD = re.compile(
    r"another deploy holds the lock on .+ since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
    r"\(pid \d+ on .+\): try again once it has finished"
)


def test_a_second_deploy_while_one_runs_is_refused_and_harms_nothing(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable, monkeypatch
) -> None:
    target, folder = device
    other_target = copy.copy(target)  # another process's view of the same device
    uploading, resume = threading.Event(), threading.Event()
    real_upload = target.upload_file

    def paused_upload(local: Path, rel: str) -> None:
        uploading.set()
        assert resume.wait(60)
        real_upload(local, rel)

    monkeypatch.setattr(target, "upload_file", paused_upload)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(deploy, bundles[0], target, smoke)
        assert uploading.wait(60)
        with pytest.raises(DeployError, match=LOCK_HELD):
            deploy(bundles[1], other_target, smoke)
        with pytest.raises(DeployError, match=LOCK_HELD):
            rollback(other_target, smoke)
        resume.set()
        report = first.result(timeout=120)
    assert os.listdir(folder / "versions") == [report.active]
    assert active_files(folder) == bundle_files(bundles[0]) and report.smoke.ok


def _deploy_that_hangs_uploading(target: Target, bundle: Path, uploading) -> None:
    """In a child process: deploy, stuck in the upload until killed."""

    def hang(local: Path, rel: str) -> None:
        uploading.set()
        time.sleep(3600)

    target.upload_file = hang
    deploy(bundle, target, lambda t: None)


def test_a_killed_deploy_leaves_no_stale_lock(
    device: tuple[Target, Path], bundles: list[Path], smoke: Callable
) -> None:
    target, folder = device
    fork = multiprocessing.get_context("fork")
    uploading = fork.Event()
    # daemon: should the test fail before killing it, pytest's exit still ends it.
    killed = fork.Process(
        target=_deploy_that_hangs_uploading, args=(target, bundles[0], uploading), daemon=True
    )
    killed.start()
    assert uploading.wait(60)
    with pytest.raises(DeployError, match=LOCK_HELD):
        deploy(bundles[1], target, smoke)
    os.kill(killed.pid, signal.SIGKILL)
    killed.join()
    assert f"(pid {killed.pid} on " in (folder / ".deploy.lock").read_text()  # only a record
    # Over SSH the lock goes once the device sees the connection close: a moment later.
    deadline = time.monotonic() + 15
    while True:
        try:
            report = deploy(bundles[1], target, smoke)
            break
        except DeployError as held:
            if "holds the lock" not in str(held) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert os.listdir(folder / "versions") == [report.active]  # the killed upload is gone
    assert active_files(folder) == bundle_files(bundles[1])
