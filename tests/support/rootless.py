"""A user that ``useradd`` just made, and its ``wharfd --rootless`` (issue #19).

The user gets its own subordinate id ranges and a private ``$XDG_RUNTIME_DIR``;
its daemon and CLI run with its credentials (setpriv), the CLI with no
DOCKER_HOST, so it must find ``$XDG_RUNTIME_DIR/wharf.sock`` by itself. At the
end nothing of the user's may be left: no process (under its uid or its
subordinate uids), no socket, no state directory; the user, its home and its
/etc/subuid and /etc/subgid lines are removed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import pytest

from support.daemon import START_TIMEOUT
from support.polling import eventually

BIN = Path(sys.executable).parent
NEEDED = ("newuidmap", "newgidmap", "slirp4netns", "useradd", "userdel", "setpriv", "busybox")


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str
    runtime: str
    subuid: tuple[int, int]

    def env(self, **extra: str) -> dict[str, str]:
        return {"HOME": self.home, "USER": self.name, "XDG_RUNTIME_DIR": self.runtime,
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", **extra}

    def command(self, *args: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "--", *args]

    def wharf(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(str(BIN / "wharf"), *args), env=self.env(),
                              cwd=self.home, capture_output=True, text=True, timeout=timeout)

    def processes(self) -> list[str]:
        """Host processes running as the user or one of its subordinate uids."""
        first, count = self.subuid
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                uid = os.stat(f"/proc/{pid}").st_uid
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if uid == self.uid or first <= uid < first + count:
                out.append(f"{pid} uid={uid} {cmd}")
        return out


def _lines(path: str) -> list[str]:
    """/etc/subuid's or /etc/subgid's lines; none before usermod makes the file."""
    try:
        with open(path) as f:
            return [line for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _subids(path: str, name: str) -> tuple[int, int] | None:
    for line in _lines(path):
        owner, start, count = line.strip().split(":")
        if owner == name:
            return int(start), int(count)
    return None


def _drop_lines(path: str, name: str) -> None:
    kept = [line for line in _lines(path) if line.split(":", 1)[0] != name]
    if os.path.exists(path):
        with open(path, "w") as f:
            f.writelines(kept)


def _free_range(count: int = 65536) -> int:
    """A start past every range /etc/subuid and /etc/subgid give anyone."""
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        for line in _lines(path):
            _, start, n = line.strip().split(":")
            end = max(end, int(start) + int(n))
    return end


@contextlib.contextmanager
def new_user() -> Iterator[User]:
    """A user made with useradd, with subordinate ids; skips where the tools are missing."""
    missing = [t for t in NEEDED if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run scripts/setup.sh --test")
    if not os.stat("/dev/net/tun").st_mode & 0o006:
        pytest.skip("/dev/net/tun is not open to users (slirp4netns): run scripts/setup.sh")
    name = f"wrl{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    made: list[User] = []
    try:
        if _subids("/etc/subuid", name) is None or _subids("/etc/subgid", name) is None:
            start = _free_range()
            subprocess.run(["usermod", "--add-subuids", f"{start}-{start + 65535}",
                            "--add-subgids", f"{start}-{start + 65535}", name], check=True)
        entry = pwd.getpwnam(name)
        runtime = tempfile.mkdtemp(prefix="wrl-run-")
        os.chown(runtime, entry.pw_uid, entry.pw_gid)
        made.append(User(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, runtime,
                         _subids("/etc/subuid", name) or (0, 0)))
        yield made[0]
    finally:
        leftovers = made[0].processes() if made else []
        if made:
            shutil.rmtree(made[0].runtime, ignore_errors=True)
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):
            _drop_lines(path, name)
        assert not leftovers, "left running:\n" + "\n".join(leftovers)


@contextlib.contextmanager
def daemon(user: User, *args: str, cgroup: str = "", bootstrap: bool = True,
           **env: str) -> Iterator[IO[str]]:
    """The user's ``wharfd --rootless ARGS`` (started in the cgroup v2 ``cgroup`` of
    /sys/fs/cgroup if given, as a unit's ExecStart is in its unit's), busybox
    bootstrapped; yields its log. Stopped with SIGTERM at the end: it must exit 0
    and leave no process of the user's and nothing but its run-state directory."""
    log = tempfile.TemporaryFile("w+")
    command = user.command(str(BIN / "wharfd"), "--rootless", *args)
    if cgroup:  # root moves the shell there, then it becomes the user
        procs = os.path.join("/sys/fs/cgroup", cgroup.strip("/"), "cgroup.procs")
        command = ["sh", "-c", f'echo $$ > {shlex.quote(procs)} && exec "$@"', "sh", *command]
    proc = subprocess.Popen(command, env=user.env(**env), cwd=user.home,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        assert eventually(lambda: proc.poll() is not None or user.wharf("version").returncode == 0,
                          timeout=START_TIMEOUT), "wharfd --rootless did not answer" + tail(log)
        assert proc.poll() is None, tail(log)
        if bootstrap:
            r = user.wharf("image", "bootstrap", "busybox", timeout=START_TIMEOUT)
            assert r.returncode == 0, r.stderr + tail(log)
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        text = tail(log)
        log.close()
        left = os.listdir(user.runtime)
        assert code == 0, text
        # the daemon's run-state directory stays, as dockerd's: its socket and parent's state go
        assert left in ([], ["wharf"]), left
        assert eventually(lambda: not user.processes()), "\n".join(user.processes())


def tail(log: IO[str]) -> str:
    log.seek(0)
    return "\n--- wharfd --rootless ---\n" + log.read()[-4000:]
