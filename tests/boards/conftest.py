"""Shared fixtures: fake boards from fixture folders, bundles, a fake edge-reason
program for smoke tests, and a real sshd on 127.0.0.1 with throwaway keys."""

from __future__ import annotations

import functools
import getpass
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from edge_reason.boards.bundle import write_manifest
from edge_reason.boards.transport import Target, TransportError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class FakeBoard:
    """A board presented from a fixture folder."""

    root: Path  # stands in for `/`
    hwcaps: Callable[[], tuple[int, int]]  # what getauxval(AT_HWCAP / AT_HWCAP2) returns


@pytest.fixture
def fake_board() -> Callable[[str], FakeBoard]:
    """fake_board("pi4") -> the Raspberry Pi 4 of tests/boards/fixtures/pi4."""

    def board(name: str) -> FakeBoard:
        caps_file = FIXTURES / name / "hwcaps.json"
        caps = json.loads(caps_file.read_text()) if caps_file.is_file() else None
        if caps is None:
            return FakeBoard(FIXTURES / name, lambda: pytest.fail(f"{name} has no hwcaps"))
        return FakeBoard(FIXTURES / name, lambda: (int(caps["hwcap"], 16), int(caps["hwcap2"], 16)))

    return board


def _make_bundle(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    write_manifest(folder)
    return folder


@pytest.fixture
def make_bundle() -> Callable[[Path, dict[str, bytes]], Path]:
    """make_bundle(folder, {name: bytes}) -> a bundle folder with its manifest."""
    return _make_bundle


@pytest.fixture
def bundles(tmp_path: Path) -> list[Path]:
    """Three different bundles, as an export would produce them."""
    return [
        _make_bundle(
            tmp_path / f"bundle{i}",
            {
                "model.bin": bytes(range(256)) * (40 + i),
                "tokenizer.json": json.dumps({"version": i}).encode(),
                "config/generation.json": b'{"max_new_tokens": 4}',
            },
        )
        for i in range(3)
    ]


@pytest.fixture
def fake_edge_reason(tmp_path: Path) -> Path:
    """A stand-in for `edge-reason` on the device: `doctor --json` names a board and
    `generate` succeeds only if the path it is given holds a bundle."""
    program = tmp_path / "fake-edge-reason"
    program.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  doctor) echo \'{"board": "raspberry-pi-4"}\' ;;\n'
        '  generate) if [ -f "$2/bundle.json" ]; then echo "Hello there"; '
        'else echo "no bundle at $2" >&2; exit 1; fi ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    program.chmod(0o755)
    return program


@pytest.fixture
def interrupt_upload(monkeypatch: pytest.MonkeyPatch) -> Callable[[Target, int], None]:
    """interrupt_upload(target, n): the connection drops halfway through uploading file
    n + 1: half of that file arrives, then the upload fails."""
    return functools.partial(_interrupt_upload, monkeypatch)


def _interrupt_upload(monkeypatch: pytest.MonkeyPatch, target: Target, after_files: int) -> None:
    real_upload = target.upload_file
    done: list[str] = []

    def upload(local: Path, rel: str) -> None:
        if len(done) == after_files:
            half = local.with_name(local.name + ".half")
            half.write_bytes(local.read_bytes()[: local.stat().st_size // 2])
            real_upload(half, rel)
            half.unlink()
            raise TransportError(f"connection lost while uploading {rel} (injected)")
        done.append(rel)
        real_upload(local, rel)

    monkeypatch.setattr(target, "upload_file", upload)


@pytest.fixture
def tamper_upload(monkeypatch: pytest.MonkeyPatch) -> Callable[[Target, str], None]:
    """tamper_upload(target, name): one byte of `name` flips on the target right after
    its upload. Both test targets live on this machine, so target.absolute() is a
    local path here."""
    return functools.partial(_tamper_upload, monkeypatch)


def _tamper_upload(monkeypatch: pytest.MonkeyPatch, target: Target, name: str) -> None:
    real_upload = target.upload_file

    def upload(local: Path, rel: str) -> None:
        real_upload(local, rel)
        if rel.endswith("/" + name):
            path = Path(target.absolute(rel))
            data = bytearray(path.read_bytes())
            data[0] ^= 0xFF
            path.write_bytes(bytes(data))

    monkeypatch.setattr(target, "upload_file", upload)


@dataclass(frozen=True)
class SshServer:
    """A running sshd and what a client needs to log in to it."""

    port: int
    user: str
    identity: Path
    known_hosts: Path
    empty_known_hosts: Path
    log: Path

    def url(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _cannot_run_sshd(reason: str) -> None:
    """Skip the SSH tests for `reason`, or fail them when the environment demands SSH."""
    if os.environ.get("EDGE_REASON_REQUIRE_SSH") == "1":
        pytest.fail(f"EDGE_REASON_REQUIRE_SSH=1 but {reason}")
    pytest.skip(
        f"SSH deployment tests skipped: {reason} (EDGE_REASON_REQUIRE_SSH=1 makes this an error)"
    )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """sshd on 127.0.0.1 with its own host key, accepting one throwaway user key.
    If it cannot run, the tests that need it are skipped, saying why; with
    EDGE_REASON_REQUIRE_SSH=1 (set by .ci/run, which installs the server) they fail instead."""
    program = shutil.which("sshd") or "/usr/sbin/sshd"
    missing = [
        package
        for package, present in [
            ("openssh-server", Path(program).is_file()),
            ("openssh-client", shutil.which("ssh") and shutil.which("ssh-keygen")),
        ]
        if not present
    ]
    if missing:
        _cannot_run_sshd(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
            "(sshd, ssh, ssh-keygen): apt-get install openssh-server openssh-client"
        )
    if os.geteuid() != 0:
        _cannot_run_sshd("the SSH deployment tests start sshd, which has to run as root")
    folder = tmp_path_factory.mktemp("sshd")
    _keygen(folder / "host_key")
    _keygen(folder / "user_key")
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
    log = folder / "sshd.log"
    with open(log, "w") as log_stream:
        server = subprocess.Popen([program, "-D", "-e", "-f", str(config)], stderr=log_stream)
    try:
        deadline = time.monotonic() + 15
        while True:
            if server.poll() is not None:
                pytest.fail(f"sshd exited with {server.returncode}: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd did not listen on port {port}: {log.read_text()}")
                time.sleep(0.1)
        host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        (folder / "empty_known_hosts").write_text("")
        yield SshServer(
            port=port,
            user=getpass.getuser(),
            identity=folder / "user_key",
            known_hosts=folder / "known_hosts",
            empty_known_hosts=folder / "empty_known_hosts",
            log=log,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
