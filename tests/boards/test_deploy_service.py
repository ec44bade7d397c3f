"""`deploy --service`: the systemd unit, the health check of a new version before the
switch, the service's restart and the rollback when it fails.

systemd is not running here: a fake systemctl (fake_systemctl.py) records its calls and
really starts and stops the unit's ExecStart, so /health is asked of a real process. The
tests marked slow serve a real model (a tiny random Llama, exported once) with the
checkout's `edge-reason serve`.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from edge_reason.boards.bundle import write_manifest
from edge_reason.boards.deploy import DeployError, deploy
from edge_reason.boards.service import inspect_service
from edge_reason.boards.service_unit import (
    ServiceSettings,
    UnitPlacement,
    render_environment,
    render_unit,
)
from edge_reason.boards.transport import Target
from edge_reason.boards.transport_local import LocalTarget
from edge_reason.boards.transport_ssh import SshAddress, SshOptions, SshTarget

from edge_reason.cli import main

FAKE_SYSTEMCTL = Path(__file__).resolve().parent / "fake_systemctl.py"
HOSTILE_NAME = "device dir; $(touch pwned) `touch pwned` 'q' \"dq\" & *?#x %n"
KEY = "s3cret-key"
UNIT = "edge-reason.service"


def _load_fake() -> object:
    spec = importlib.util.spec_from_file_location("fake_systemctl", FAKE_SYSTEMCTL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_systemctl = _load_fake()


@dataclass(frozen=True)
class Systemd:
    """The fake systemd: its systemctl, the folder units go to and its state."""

    systemctl: Path
    units: Path
    state: Path

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def commands(self) -> list[str]:
        """The calls that change something, as 'command unit'."""
        return [
            " ".join(c) for c in self.calls() if c[0] not in ("is-active", "status", "--version")
        ]

    def pid(self, unit: str = UNIT) -> int | None:
        path = self.state / f"{unit}.pid"
        return int(path.read_text()) if path.exists() else None


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    state, units = tmp_path / "systemd-state", tmp_path / "units"
    state.mkdir()
    units.mkdir()
    program = _script(
        tmp_path / "bin" / "systemctl",
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_SYSTEMCTL))} "
        f'{shlex.quote(str(state))} {shlex.quote(str(units))} "$@"\n',
    )
    fake = Systemd(program, units, state)
    yield fake
    for pid_file in state.glob("*.pid"):  # no service outlives its test
        subprocess.run([str(program), "stop", pid_file.stem], check=False, timeout=60)


@pytest.fixture
def edge_reason(tmp_path: Path) -> Path:
    """This checkout's `edge-reason`, as installed on the device. A version holding a
    file `fail-when-live` fails when served through `current` (as the service serves
    it) but not from its own folder (as the trial run does): a fault that only the
    service shows, like a setting of the unit."""
    python = shlex.quote(sys.executable)
    return _script(
        tmp_path / "bin" / "edge-reason",
        "#!/bin/sh\n"
        'if [ "$1" = serve ] && [ "${2##*/}" = current ] && [ -f "$2/fail-when-live" ]; then\n'
        '    echo "simulated fault: this version fails as the service" >&2; exit 1\n'
        "fi\n"
        # -I: the installed edge_reason (CI installs it; a checkout on the path has no
        # compiled module), whatever the folder the device runs it in
        f"exec {python} -I -c 'from edge_reason.cli import main; main()' \"$@\"\n",
    )


@pytest.fixture
def never_answers(tmp_path: Path) -> Path:
    """An edge-reason whose serve starts and never answers."""
    return _script(tmp_path / "hang" / "edge-reason", "#!/bin/sh\nexec sleep 617\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(systemd: Systemd, program: Path, /, **fields: object) -> ServiceSettings:
    fields = {
        "program": str(program),
        "systemctl": str(systemd.systemctl),
        "unit_dir": str(systemd.units),
        "port": free_port(),
        "health_timeout_s": 60.0,
        **fields,
    }
    return ServiceSettings(**fields)


def health(port: int) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/health", timeout=10) as reply:
        return json.loads(reply.read())


def status_of(port: int, path: str, key: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as e:
        return e.code


def processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:
            pass  # the process ended while we looked
    return found


# ---- the unit -------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["system", "user"])
def test_the_unit_runs_serve_on_current_and_keeps_the_key_out(
    scope: str, tmp_path: Path, edge_reason: Path
) -> None:
    root = str(tmp_path / HOSTILE_NAME)
    settings = ServiceSettings(
        port=8181, threads=2, max_queue=4, max_batch=3, api_key=KEY, model_name="tiny 100%"
    )
    placement = UnitPlacement(scope, str(tmp_path / "units"), root, str(edge_reason), "root")
    unit = render_unit(settings, placement)
    fields = fake_systemctl._unit_fields(unit)
    assert fake_systemctl._unquote(fields["ExecStart"]) == [
        str(edge_reason),
        "serve",
        f"{root}/current",
        "--host",
        "127.0.0.1",
        "--port",
        "8181",
        "--model-name",
        "tiny 100%",
        "--threads",
        "2",
        "--max-queue",
        "4",
        "--max-batch",
        "3",
    ]
    assert fields["EnvironmentFile"].replace("%%", "%") == f"{root}/edge-reason.env"
    assert fields["Restart"] == "on-failure" and fields["NoNewPrivileges"] == "yes"
    if scope == "system":
        assert fields["User"] == "root" and fields["WantedBy"] == "multi-user.target"
        assert fields["ProtectSystem"] == "strict" and fields["PrivateTmp"] == "yes"
    else:
        assert "User" not in fields and fields["WantedBy"] == "default.target"
    assert KEY not in unit
    environment = tmp_path / "edge-reason.env"
    environment.write_text(render_environment(settings))
    assert fake_systemctl._environment_file(str(environment)) == {"EDGE_REASON_API_KEY": KEY}

    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # what follows checks the unit with systemd's own parser
        pytest.skip("systemd-analyze is not installed (Debian: the systemd package)")
    path = tmp_path / "units" / UNIT
    path.parent.mkdir()
    path.write_text(unit)
    env = dict(os.environ)
    command = [analyze, "verify", str(path)]
    if scope == "user":
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        command.insert(1, "--user")
    checked = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"port": 0}, "port must be an integer from 1 to 65535, got 0"),
        ({"port": 70000}, "port must be an integer from 1 to 65535, got 70000"),
        ({"name": "a/b"}, "service name 'a/b'"),
        ({"name": "tmpl@"}, "service name 'tmpl@'"),
        ({"api_key": "it's"}, "the API key must be one line"),
        ({"api_key": "a\nb"}, "the API key must be one line"),
        ({"scope": "user", "user": "pi"}, "a service user needs a system unit"),
        ({"scope": "both"}, "scope must be one of auto, system, user"),
        ({"host": "a host"}, "host 'a host' is not an address"),
        ({"unit_dir": "units"}, "must be an absolute path"),
    ],
)
def test_bad_settings_are_refused_in_one_line(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        ServiceSettings(**fields)
    assert "\n" not in str(refused.value)


# ---- refused before anything is uploaded ---------------------------------------------------


def test_a_port_in_use_is_refused_before_the_upload(
    tmp_path: Path, bundles: list[Path], systemd: Systemd, edge_reason: Path
) -> None:
    folder = tmp_path / "device"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_for(systemd, edge_reason, port=port)
        with pytest.raises(DeployError) as refused:
            deploy(bundles[0], LocalTarget(folder), None, service=settings)
    assert str(refused.value) == (
        f"port {port} on 127.0.0.1 is taken on {folder} (Address already in use): "
        "choose another --port"
    )
    assert not (folder / "versions").exists() and list(systemd.units.iterdir()) == []
    assert systemd.commands() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"program": "edge-reason-not-installed-here"},
            "edge-reason-not-installed-here is not installed on {folder} (command not found): "
            "install edge-reason[serve] there, or name it with --remote-command",
        ),
        (
            {"systemctl": "/no/systemctl"},
            "/no/systemctl is not installed on {folder}: --service needs systemd "
            "(or --systemctl naming its systemctl)",
        ),
        (
            {"user": "no-such-user-here"},
            "there is no user no-such-user-here on {folder} to run the service",
        ),
    ],
)
def test_a_device_that_cannot_run_the_service_is_refused_before_the_upload(
    tmp_path: Path,
    bundles: list[Path],
    systemd: Systemd,
    edge_reason: Path,
    change: dict,
    message: str,
) -> None:
    folder = tmp_path / "device"
    settings = settings_for(systemd, edge_reason, **change)
    with pytest.raises(DeployError) as refused:
        deploy(bundles[0], LocalTarget(folder), None, service=settings)
    assert str(refused.value) == message.format(folder=folder)
    assert not (folder / "versions").exists() and list(systemd.units.iterdir()) == []


def test_a_user_unit_goes_to_the_users_folder_and_uses_systemctl_user(
    tmp_path: Path, systemd: Systemd, edge_reason: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the device's, seen by its shell
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    settings = settings_for(systemd, edge_reason, scope="user", unit_dir=None)
    (tmp_path / "device").mkdir()  # as deploy's lock makes it
    device = inspect_service(LocalTarget(tmp_path / "device"), settings)
    assert device.placement.scope == "user" and device.placement.user == getpass.getuser()
    assert device.unit_path == f"{tmp_path}/home/.config/systemd/user/{UNIT}"
    assert device.environment_path == f"{tmp_path}/device/edge-reason.env"
    assert device.placement.program == str(edge_reason)
    assert systemd.calls() == [["--user", "is-active", UNIT]]
    assert "User=" not in render_unit(settings, device.placement)


def test_a_unit_deploy_did_not_write_is_never_overwritten(
    tmp_path: Path, bundles: list[Path], systemd: Systemd, edge_reason: Path
) -> None:
    theirs = systemd.units / UNIT
    theirs.write_text("[Service]\nExecStart=/usr/bin/something-else\n")
    with pytest.raises(DeployError, match="was not written by edge-reason deploy: choose another"):
        settings = settings_for(systemd, edge_reason)
        deploy(bundles[0], LocalTarget(tmp_path / "d"), None, service=settings)
    assert theirs.read_text() == "[Service]\nExecStart=/usr/bin/something-else\n"


def test_a_version_that_never_answers_is_stopped_and_removed_after_the_timeout(
    tmp_path: Path, bundles: list[Path], systemd: Systemd, never_answers: Path
) -> None:
    folder = tmp_path / "device"
    settings = settings_for(systemd, never_answers, health_timeout_s=1.5)
    with pytest.raises(DeployError) as failed:
        deploy(bundles[0], LocalTarget(folder), None, service=settings)
    message = str(failed.value)
    assert message.startswith("the new version ") and "\n" not in message
    assert f"failed its health check on {folder} and is removed (nothing was active before): " in (
        message
    )
    assert f"`{never_answers} serve` did not answer /health within 1.5 s (" in message
    assert os.listdir(folder / "versions") == [] and not (folder / "current").is_symlink()
    assert list(systemd.units.iterdir()) == [] and systemd.commands() == []
    assert not processes_naming("sleep 617")  # the trial run is stopped


def test_the_command_explains_service_misuse(tmp_path: Path, bundles: list[Path]) -> None:
    runner = CliRunner()
    device = str(tmp_path / "device")
    no_service = runner.invoke(main, ["deploy", str(bundles[0]), device, "--port", "9000"])
    assert no_service.exit_code == 2 and "Error: --port applies to the service: add --service" in (
        no_service.output
    )
    bad_port = runner.invoke(main, ["deploy", str(bundles[0]), device, "--service", "--port", "0"])
    assert bad_port.exit_code == 2, bad_port.output
    assert "Error: Invalid value for '--port': 0 is not in the range 1<=x<=65535." in (
        bad_port.output
    )
    args = ["deploy", str(bundles[0]), device, "--service", "--max-batch", "65"]
    bad_batch = runner.invoke(main, args)
    assert bad_batch.exit_code == 2, bad_batch.output
    assert "Invalid value for '--max-batch': 65 is not in the range 1<=x<=64." in bad_batch.output
    rollback = runner.invoke(main, ["deploy", "--rollback", device, "--service"])
    assert rollback.exit_code == 2 and "--service applies to a deploy, not to --rollback" in (
        rollback.output
    )
    missing = runner.invoke(
        main,
        ["deploy", str(bundles[0]), device, "--service", "--remote-command", "not-here-at-all"],
    )
    assert missing.exit_code == 1
    assert missing.output == (
        f"Error: not-here-at-all is not installed on {device} (command not found): "
        "install edge-reason[serve] there, or name it with --remote-command\n"
    )
    assert not (tmp_path / "device" / "versions").exists()


# ---- with a real model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bundles of one tiny random Llama, exported once: tiny-a; tiny-b (the same with
    a file more, so another version); tiny-live-fault (with `fail-when-live`)."""
    pytest.importorskip("torch", reason="exporting the test model needs the [export] extra")
    pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")
    from edge_reason.export.pipeline import ExportRequest, export_bundle
    from helpers.hf_models import build_model

    root = tmp_path_factory.mktemp("service-models")
    model = build_model(root / "hf", "llama", seed=3)
    first = root / "tiny-a"
    export_bundle(ExportRequest(model, first, "int8", "rtn", None))
    made = {"tiny-a": first}
    for name, extra in [("tiny-b", "notes.txt"), ("tiny-live-fault", "fail-when-live")]:
        shutil.copytree(first, root / name)
        (root / name / extra).write_text(f"{name}\n")
        manifest = json.loads((root / name / "bundle.json").read_text())
        listed = json.loads(write_manifest(root / name).read_text())["files"]
        manifest["files"] = listed  # the export's manifest, listing the new file too
        (root / name / "bundle.json").write_text(json.dumps(manifest))
        made[name] = root / name
    return made


def _device(request: pytest.FixtureRequest, folder: Path) -> Target:
    if request.param == "local":
        return LocalTarget(folder)
    sshd = request.getfixturevalue("sshd")
    options = SshOptions(identity=sshd.identity, known_hosts=sshd.known_hosts)
    return SshTarget(SshAddress.parse(sshd.url(folder)), options)


@pytest.fixture(params=["local"])
def device(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Target, Path]:
    folder = tmp_path / HOSTILE_NAME
    return _device(request, folder), folder


@pytest.mark.slow  # exports a model and serves it from fresh interpreters: about 30 s
def test_a_healthy_version_goes_live_and_the_next_one_replaces_it(
    device: tuple[Target, Path], models: dict[str, Path], systemd: Systemd, edge_reason: Path
) -> None:
    target, folder = device
    settings = settings_for(systemd, edge_reason, api_key=KEY)
    port = settings.port
    first = deploy(models["tiny-a"], target, None, service=settings)
    service = first.service
    assert first.smoke is None and service.live.ok and service.trial.ok
    assert service.trial.port != port and service.trial.health["model"] == "tiny-a"
    assert (service.name, service.scope) == (UNIT, "system") and service.api_key
    assert service.url == f"http://127.0.0.1:{port}"
    assert os.readlink(folder / "current") == f"versions/{first.active}"

    unit = (systemd.units / UNIT).read_text()
    assert service.unit_path == str(systemd.units / UNIT)
    fields = fake_systemctl._unit_fields(unit)
    assert fake_systemctl._unquote(fields["ExecStart"]) == [
        str(edge_reason),
        *("serve", f"{folder}/current", "--host", "127.0.0.1", "--port", str(port)),
        *("--model-name", "tiny-a"),
    ]
    assert KEY not in unit
    environment = folder / "edge-reason.env"
    assert service.environment_file == str(environment)
    assert stat.S_IMODE(environment.stat().st_mode) == 0o600
    assert f"EDGE_REASON_API_KEY='{KEY}'" in environment.read_text()
    assert systemd.commands() == ["daemon-reload", f"enable {UNIT}", f"restart {UNIT}"]

    # the service answers, with the key from its EnvironmentFile
    assert health(port)["model"] == "tiny-a"
    assert status_of(port, "/v1/models") == 401 and status_of(port, "/v1/models", KEY) == 200
    first_pid = systemd.pid()

    second = deploy(models["tiny-b"], target, None, service=settings)
    assert second.previous == first.active and second.service.live.ok
    assert health(port)["model"] == "tiny-b"
    assert systemd.pid() != first_pid and not fake_systemctl._alive(first_pid)
    assert os.readlink(folder / "current") == f"versions/{second.active}"
    assert systemd.commands()[3:] == ["daemon-reload", f"enable {UNIT}", f"restart {UNIT}"]


@pytest.mark.slow  # serves a model from fresh interpreters
def test_a_version_that_fails_its_health_check_changes_nothing(
    device: tuple[Target, Path],
    models: dict[str, Path],
    bundles: list[Path],
    systemd: Systemd,
    edge_reason: Path,
) -> None:
    target, folder = device
    settings = settings_for(systemd, edge_reason)
    good = deploy(models["tiny-a"], target, None, service=settings)
    unit, pid, calls = (systemd.units / UNIT).read_text(), systemd.pid(), systemd.commands()
    with pytest.raises(DeployError) as failed:
        deploy(bundles[0], target, None, service=settings)  # a bundle, but not a model
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("the new version ")
    assert f"failed its health check on {target.description} and is removed " in message
    stays = f"({good.active} stays active): `{edge_reason} serve` exited with status 1 "
    assert stays in message
    assert "; its log ends: " in message and "Error: " in message
    assert os.listdir(folder / "versions") == [good.active]
    assert os.readlink(folder / "current") == f"versions/{good.active}"
    assert (systemd.units / UNIT).read_text() == unit and systemd.commands() == calls
    assert systemd.pid() == pid and health(settings.port)["model"] == "tiny-a"


@pytest.mark.slow  # serves a model from fresh interpreters
def test_a_service_that_fails_after_the_switch_is_rolled_back(
    device: tuple[Target, Path], models: dict[str, Path], systemd: Systemd, edge_reason: Path
) -> None:
    target, folder = device
    settings = settings_for(systemd, edge_reason, health_timeout_s=8.0)
    port = settings.port

    # the first deploy: nothing to go back to, so nothing is left
    with pytest.raises(DeployError) as failed:
        deploy(models["tiny-live-fault"], target, None, service=settings)
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"{UNIT} failed with the new version ")
    assert f"no answer on http://127.0.0.1:{port}/health within 8 s" in message
    assert "simulated fault: this version fails as the service" in message  # its log
    assert "; rolled back to no active version, " in message
    assert message.endswith(f"is removed, and {UNIT} was not installed before and is removed")
    assert not (folder / "current").is_symlink() and os.listdir(folder / "versions") == []
    assert not (systemd.units / UNIT).exists() and not (folder / "edge-reason.env").exists()
    assert systemd.pid() is None

    good = deploy(models["tiny-a"], target, None, service=settings)
    good_unit = (systemd.units / UNIT).read_text()
    with pytest.raises(DeployError) as failed:
        deploy(models["tiny-live-fault"], target, None, service=settings)
    message = str(failed.value)
    assert "\n" not in message
    assert f"; rolled back to {good.active}, " in message
    assert message.endswith(f"is removed, and {UNIT} answers /health again")
    assert os.readlink(folder / "current") == f"versions/{good.active}"
    assert os.listdir(folder / "versions") == [good.active]
    assert (systemd.units / UNIT).read_text() == good_unit
    assert health(port)["model"] == "tiny-a"
    installs = ["daemon-reload", f"enable {UNIT}", f"restart {UNIT}"]
    assert systemd.commands() == [
        *installs,  # the first fault
        *(f"stop {UNIT}", f"disable {UNIT}", "daemon-reload"),  # its rollback: no unit before
        *installs,  # tiny-a
        *installs,  # the second fault
        *("daemon-reload", f"restart {UNIT}"),  # its rollback: tiny-a's unit again
    ]


@pytest.mark.slow  # serves a model from fresh interpreters, over SSH
def test_the_deploy_command_installs_the_service_over_ssh(
    sshd, tmp_path: Path, models: dict[str, Path], systemd: Systemd, edge_reason: Path
) -> None:
    folder = tmp_path / "models on the pi"
    port = free_port()
    ssh = ["--identity", str(sshd.identity), "--known-hosts", str(sshd.known_hosts)]
    service = ["--service", "--port", str(port), "--threads", "1", "--model-name", "pi-model"]
    fakes = ["--systemctl", str(systemd.systemctl), "--unit-dir", str(systemd.units)]
    result = CliRunner().invoke(
        main,
        [
            "deploy",
            str(models["tiny-a"]),
            sshd.url(folder),
            *service,
            *fakes,
            "--remote-command",
            str(edge_reason),
            *ssh,
        ],
        env={"EDGE_REASON_API_KEY": KEY},
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith(
        f"service {UNIT} (system unit {systemd.units / UNIT}) answers on "
        f"http://127.0.0.1:{port} (model pi-model; /health after "
    )
    assert f"API key: in {folder / 'edge-reason.env'} (mode 0600)" in result.output
    assert health(port)["model"] == "pi-model"
    assert status_of(port, "/v1/models", KEY) == 200 and status_of(port, "/v1/models") == 401
    assert "--threads" in (systemd.units / UNIT).read_text()
