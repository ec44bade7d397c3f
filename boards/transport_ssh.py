"""Deploying to a host over SSH with the system's `ssh` client.

Files are streamed through `ssh host 'cat > path'` rather than scp, because scp
interprets remote paths differently in its SFTP and legacy modes; this way every
remote command follows one rule: each path and argument goes through shlex.quote.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .transport import CommandResult, LockHeld, Target, TransportError

# ssh exits with 255 when the connection itself failed.
_SSH_FAILED = 255
_OPERATION_TIMEOUT = 60.0
# A deploy runs dozens of short commands: they share one connection (one handshake, which
# costs most of each command's time) that closes itself this long after its last use.
_CONNECTION_KEPT_SECONDS = 30
# Unix socket paths are short (108 bytes); ssh adds a 17-byte suffix while it binds one.
_SOCKET_PATH_LIMIT = 100
# `[ -f file ] || exit 3`: the file asked for does not exist.
_NO_SUCH_FILE = 3
# A host or user starting with "-" would be read by ssh as an option.
_URL = re.compile(
    r"ssh://(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*)"
    r"(?::(?P<port>\d{1,5}))?(?P<path>/.*)",
    re.DOTALL,
)


@dataclass(frozen=True)
class SshAddress:
    """Where `ssh://user@host:port/path` points. The path is taken literally (no
    percent-decoding), so it may hold spaces, '#' or '?'."""

    user: str | None
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, url: str) -> SshAddress:
        match = _URL.fullmatch(url)
        if not match:
            raise ValueError(
                f"not a valid SSH target {url!r}: expected ssh://[user@]host[:port]/absolute/path"
            )
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"SSH target {url!r}: port {port} is out of range")
        path = posixpath.normpath(match["path"])
        if path == "/":
            raise ValueError(f"SSH target {url!r}: refusing to deploy into the root folder")
        return cls(user=match["user"], host=match["host"].strip("[]"), port=port, path=path)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


@dataclass(frozen=True)
class SshOptions:
    """How to authenticate and check the host."""

    identity: Path | None = None
    known_hosts: Path | None = None
    # Trust a host seen for the first time (never one whose key changed).
    accept_new_host_key: bool = False
    connect_timeout: int = 15


def _close_shared_connection(socket_folder: str, destination: str) -> None:
    """Ask the shared connection's master to exit now rather than linger, then drop its folder."""
    for socket in Path(socket_folder).glob("*"):
        try:
            subprocess.run(
                ["ssh", "-o", f'ControlPath="{socket}"', "-O", "exit", "--", destination],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass  # the master still exits on its own once idle
    shutil.rmtree(socket_folder, ignore_errors=True)


def _quoted(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


class SshTarget(Target):
    """A deployment folder on a host reached with `ssh`."""

    def __init__(self, address: SshAddress, options: SshOptions | None = None) -> None:
        self.address, self.options = address, options or SshOptions()
        # A private folder (mode 0700) for the shared connection's socket; %C is a hash
        # of host, port and user.
        self._socket_folder = tempfile.mkdtemp(prefix="edge-reason-ssh-")
        weakref.finalize(self, _close_shared_connection, self._socket_folder, address.destination)

    @property
    def description(self) -> str:
        port = f":{self.address.port}" if self.address.port else ""
        return f"ssh://{self.address.destination}{port}{self.address.path}"

    def absolute(self, rel: str) -> str:
        return posixpath.join(self.address.path, rel)

    def ssh_argv(self, remote_command: str) -> list[str]:
        """The ssh command line that runs `remote_command` (already quoted) on the host."""
        o = self.options
        checking = "accept-new" if o.accept_new_host_key else "yes"
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={checking}"]
        argv += ["-o", f"ConnectTimeout={o.connect_timeout}"]
        socket = f"{self._socket_folder}/%C"
        if len(socket) + 40 <= _SOCKET_PATH_LIMIT:
            argv += ["-o", "ControlMaster=auto", "-o", f'ControlPath="{socket}"']
            argv += ["-o", f"ControlPersist={_CONNECTION_KEPT_SECONDS}"]
        if self.address.port:
            argv += ["-p", str(self.address.port)]
        if o.identity:
            argv += ["-i", str(o.identity), "-o", "IdentitiesOnly=yes"]
        if o.known_hosts:
            if '"' in str(o.known_hosts):
                raise ValueError(f"known-hosts path {o.known_hosts} must not contain '\"'")
            # ssh splits -o values like config lines: quote the path for spaces.
            argv += ["-o", f'UserKnownHostsFile="{o.known_hosts}"']
        return argv + ["--", self.address.destination, remote_command]

    def _ssh(
        self,
        remote_command: str,
        what: str,
        stdin_path: Path | None = None,
        timeout: float = _OPERATION_TIMEOUT,
        accept: Sequence[int] = (0,),
        input_text: str | None = None,
    ) -> CommandResult:
        try:
            if stdin_path is None:
                done = subprocess.run(
                    self.ssh_argv(remote_command),
                    input=input_text,
                    stdin=subprocess.DEVNULL if input_text is None else None,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            else:
                with open(stdin_path, "rb") as stream:
                    done = subprocess.run(
                        self.ssh_argv(remote_command),
                        stdin=stream,
                        capture_output=True,
                        timeout=timeout,
                        check=False,
                    )
                done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
        except subprocess.TimeoutExpired:
            raise TransportError(
                f"{what} on {self.description}: no answer within {timeout:g} s"
            ) from None
        if done.returncode not in accept:
            raise self._failure(done.returncode, done.stderr, what)
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def _failure(self, returncode: int, stderr: str, what: str) -> TransportError:
        if returncode == _SSH_FAILED:
            return TransportError(f"cannot reach {self.description}: {stderr.strip()}")
        return TransportError(f"{what} on {self.description} failed: {stderr.strip()}")

    def list_dir(self, rel: str) -> list[str]:
        folder = shlex.quote(self.absolute(rel))
        out = self._ssh(f"if [ -d {folder} ]; then ls -1A -- {folder}; fi", f"listing {rel}")
        return sorted(out.stdout.splitlines())

    def read_link(self, rel: str) -> str | None:
        link = shlex.quote(self.absolute(rel))
        out = self._ssh(f"if [ -L {link} ]; then readlink -- {link}; fi", f"reading {rel}")
        return out.stdout.rstrip("\n") or None

    def read_text(self, rel: str) -> str | None:
        path = shlex.quote(self.absolute(rel))
        out = self._ssh(
            f"[ -f {path} ] || exit {_NO_SUCH_FILE}; cat -- {path}",
            f"reading {rel}",
            accept=(0, _NO_SUCH_FILE),
        )
        return out.stdout if out.returncode == 0 else None

    def make_dirs(self, rels: Sequence[str]) -> None:
        self._ssh("mkdir -p -- " + _quoted(*map(self.absolute, rels)), "creating folders")

    def upload_file(self, local: Path, rel: str) -> None:
        self._ssh(
            # noclobber: never truncate a file that exists (see Target.upload_file).
            f"set -C; cat > {shlex.quote(self.absolute(rel))}",
            f"uploading {rel}",
            stdin_path=local,
            timeout=None,
        )

    def sha256(self, rels: Sequence[str]) -> dict[str, str]:
        # sha256sum exits 1 when some file is missing; those files are then absent
        # from its output, which is what the caller checks.
        out = self._ssh(
            f"cd -- {shlex.quote(self.address.path)} && sha256sum -- {_quoted(*rels)}",
            "computing checksums",
            accept=(0, 1),
            timeout=None,
        )
        sums = {}
        for line in out.stdout.splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
        return sums

    def rename(self, rel: str, new_rel: str) -> None:
        src, dst = shlex.quote(self.absolute(rel)), shlex.quote(self.absolute(new_rel))
        exists = shlex.quote(f"{new_rel} already exists")
        self._ssh(
            f"if [ -e {dst} ] || [ -L {dst} ]; then echo {exists} >&2; exit 1; fi;"
            f" mv -T -- {src} {dst}",
            f"renaming {rel} to {new_rel}",
        )

    def replace_symlink(self, rel: str, points_to: str) -> None:
        link = self.absolute(rel)
        temporary = posixpath.join(
            posixpath.dirname(link), f".{posixpath.basename(link)}.{secrets.token_hex(6)}.tmp"
        )
        self._ssh(
            f"ln -s -- {_quoted(points_to, temporary)} && mv -T -- {_quoted(temporary, link)}"
            f" || {{ rm -f -- {shlex.quote(temporary)}; exit 1; }}",
            f"switching {rel} to {points_to}",
        )

    def remove_tree(self, rel: str) -> None:
        self._ssh(f"rm -rf -- {shlex.quote(self.absolute(rel))}", f"removing {rel}")

    @contextmanager
    def lock(self, rel: str, holder: str) -> Iterator[None]:
        # A remote `cat` holds the flock while it reads this ssh session's stdin: when
        # this process ends, even killed, stdin closes, cat exits and the lock is gone.
        path = self.absolute(rel)
        folder, lock_file = shlex.quote(posixpath.dirname(path)), shlex.quote(path)
        script = (
            f"mkdir -p -- {folder} && exec 9>>{lock_file} || exit 1; flock -n 9; status=$?;"
            f" if [ $status = 0 ]; then printf '%s\\n' {shlex.quote(holder)} > {lock_file};"
            " echo locked; exec cat > /dev/null; fi;"
            f" if [ $status = 1 ]; then echo held; cat -- {lock_file}; exit 0; fi; exit $status"
        )
        # Its own session, so Ctrl-C reaches deploy (which cleans up) but not the lock.
        holder_process = subprocess.Popen(
            self.ssh_argv(script),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        answer = holder_process.stdout.readline()
        if answer != "locked\n":
            # Not communicate(): it reads the pipe itself, missing what readline buffered.
            recorded, err = holder_process.stdout.read(), holder_process.stderr.read()
            holder_process.wait(timeout=_OPERATION_TIMEOUT)
            if answer == "held\n" and holder_process.returncode == 0:
                raise LockHeld(recorded.strip())
            raise self._failure(holder_process.returncode, err, f"locking {rel}")
        try:
            yield
        finally:
            holder_process.stdin.close()
            try:
                holder_process.wait(timeout=_OPERATION_TIMEOUT)
            except subprocess.TimeoutExpired:
                holder_process.kill()
                holder_process.wait()

    def run(
        self, argv: Sequence[str], cwd_rel: str, timeout: float, input: str | None = None
    ) -> CommandResult:
        command = f"cd -- {shlex.quote(self.absolute(cwd_rel))} && {_quoted(*argv)}"
        return self._ssh(
            command, f"running {argv[0]}", timeout=timeout, accept=range(255), input_text=input
        )
