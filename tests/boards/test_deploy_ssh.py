"""SSH specifics: addresses, host-key checking and the `deploy` command end to end."""

from __future__ import annotations

import gc
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from edge_reason.boards.deploy import deploy
from edge_reason.boards.smoke import run_smoke_test
from edge_reason.boards.transport import TransportError
from edge_reason.boards.transport_ssh import SshAddress, SshOptions, SshTarget

from edge_reason.cli import main


def test_an_ssh_url_is_parsed_with_its_path_taken_literally() -> None:
    address = SshAddress.parse("ssh://pi@raspberrypi.local:2222/home/pi/models #1?x")
    assert address == SshAddress("pi", "raspberrypi.local", 2222, "/home/pi/models #1?x")
    assert SshAddress.parse("ssh://[::1]/srv/m") == SshAddress(None, "::1", None, "/srv/m")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ssh://-oProxyCommand=x/srv", "not a valid SSH target"),
        ("ssh://pi@host:70000/srv", "port 70000 is out of range"),
        ("ssh://pi@host", "not a valid SSH target"),
        ("ssh://pi@host/", "refusing to deploy into the root folder"),
    ],
)
def test_a_bad_ssh_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SshAddress.parse(url)


def test_commands_share_one_login_which_ends_with_the_target(sshd, tmp_path: Path) -> None:
    def logins() -> int:
        return sshd.log.read_text().count("Accepted publickey")

    address = SshAddress.parse(sshd.url(tmp_path / "device"))
    target = SshTarget(address, SshOptions(identity=sshd.identity, known_hosts=sshd.known_hosts))
    before = logins()
    for name in ("a", "b", "c"):
        target.make_dirs([name])
        assert name in target.list_dir("")
    assert logins() == before + 1
    sockets = list(Path(target._socket_folder).iterdir())
    assert len(sockets) == 1
    del target
    gc.collect()
    assert not sockets[0].parent.exists()
    assert not _processes_naming(str(sockets[0]))


def _processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:
            pass  # the process ended while we looked
    return found


def test_host_keys_are_checked_strictly_unless_new_keys_are_accepted(
    sshd, tmp_path: Path, bundles: list[Path]
) -> None:
    address = SshAddress.parse(sshd.url(tmp_path / "device"))
    unknown = SshOptions(identity=sshd.identity, known_hosts=sshd.empty_known_hosts)
    strict = SshTarget(address, unknown)
    assert "StrictHostKeyChecking=yes" in strict.ssh_argv("true")
    with pytest.raises(TransportError, match="Host key verification failed"):
        deploy(bundles[0], strict, lambda target: None)
    assert not (tmp_path / "device").exists()

    learned = tmp_path / "known_hosts"
    shutil.copy(sshd.empty_known_hosts, learned)
    trusting = SshOptions(identity=sshd.identity, known_hosts=learned, accept_new_host_key=True)
    deploy(bundles[0], SshTarget(address, trusting), lambda target: None)
    assert (tmp_path / "device" / "current" / "model.bin").is_file()
    host_key = sshd.known_hosts.read_text().split()[-1]
    assert learned.read_text().split()[-1] == host_key  # learned (the host name may be hashed)


def test_the_deploy_command_deploys_smoke_tests_and_rolls_back_over_ssh(
    sshd, tmp_path: Path, bundles: list[Path], fake_edge_reason: Path
) -> None:
    folder = tmp_path / "models on the pi"
    url = sshd.url(folder)
    ssh = ["--identity", str(sshd.identity), "--known-hosts", str(sshd.known_hosts)]
    runner = CliRunner()
    first = runner.invoke(
        main,
        ["deploy", str(bundles[0]), url, "--json", "--remote-command", str(fake_edge_reason), *ssh],
    )
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["smoke"]["ok"] and report["target"] == url

    missing = ["--remote-command", "edge-reason-not-installed-here"]
    second = runner.invoke(
        main, ["deploy", str(bundles[1]), url, "--board", "raspberry-pi-4", *missing, *ssh]
    )
    assert second.exit_code == 1, second.output
    assert "smoke test: FAILED" in second.output, second.output
    assert "is not installed on" in second.output, second.output

    back = runner.invoke(
        main, ["deploy", "--rollback", url, "--remote-command", str(fake_edge_reason), *ssh]
    )
    assert back.exit_code == 0, back.output
    assert f"rolled back to {report['active']}" in back.output
    assert os.readlink(folder / "current") == f"versions/{report['active']}"


def test_the_deploy_command_explains_bad_usage(tmp_path: Path) -> None:
    runner = CliRunner()
    only_bundle = runner.invoke(main, ["deploy", str(tmp_path)])
    assert only_bundle.exit_code == 2 and "expected BUNDLE TARGET" in only_bundle.output
    not_a_bundle = runner.invoke(main, ["deploy", str(tmp_path), str(tmp_path / "dev")])
    assert not_a_bundle.exit_code == 1 and "not a bundle: no bundle.json" in not_a_bundle.output


def test_smoke_test_reports_output_that_is_not_doctor_json(tmp_path: Path) -> None:
    from edge_reason.boards.transport_local import LocalTarget

    liar = tmp_path / "liar"
    liar.write_text("#!/bin/sh\necho not json\n")
    liar.chmod(0o755)
    tmp_path.joinpath("device").mkdir()
    report = run_smoke_test(LocalTarget(tmp_path / "device"), program=str(liar))
    assert not report.ok and report.steps[0].error == "doctor --json did not print a JSON object"
