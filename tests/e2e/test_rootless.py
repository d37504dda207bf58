"""``wharfd --rootless`` run by a user that ``useradd`` just made (issue #19).

The user gets its own subordinate id ranges and a private ``$XDG_RUNTIME_DIR``;
its daemon and CLI run with its credentials (setpriv), the CLI with no
DOCKER_HOST, so it must find ``$XDG_RUNTIME_DIR/wharf.sock`` by itself. The
daemon is started with host loopback allowed (``10.0.2.2`` is the host's
127.0.0.1), so it can push to and pull from a registry this test serves on the
host's loopback. At the end nothing of the user's may be left: no process
(under its uid or its subordinate uids), no socket, no state directory; the
user, its home and its /etc/subuid and /etc/subgid lines are removed.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import pytest

from support.polling import eventually

BIN = Path(sys.executable).parent
WEB_PORT = 18081  # the issue's: -p 127.0.0.1:18081:80
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


def _subids(path: str, name: str) -> tuple[int, int] | None:
    with open(path) as f:
        for line in f:
            owner, start, count = line.strip().split(":")
            if owner == name:
                return int(start), int(count)
    return None


def _drop_lines(path: str, name: str) -> None:
    with open(path) as f:
        kept = [line for line in f if line.split(":", 1)[0] != name]
    with open(path, "w") as f:
        f.writelines(kept)


def _free_range(count: int = 65536) -> int:
    """A start past every range /etc/subuid and /etc/subgid give anyone."""
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path) as f:
            for line in f:
                _, start, n = line.strip().split(":")
                end = max(end, int(start) + int(n))
    return end


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
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


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A registry on the host's loopback, for push and pull."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN / "wharf"), "registry", "serve", "--addr",
                             f"127.0.0.1:{port}", "--root", str(tmp_path_factory.mktemp("reg"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        assert eventually(up, timeout=30)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def daemon(user: User, registry: int) -> Iterator[User]:
    """The user's ``wharfd --rootless``, with busybox bootstrapped."""
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        user.command(str(BIN / "wharfd"), "--rootless",
                     f"--insecure-registry=10.0.2.2:{registry}"),
        env=user.env(WHARFD_ROOTLESS_DISABLE_HOST_LOOPBACK="false"), cwd=user.home,
        stdout=log, stderr=subprocess.STDOUT)
    try:
        assert eventually(lambda: proc.poll() is not None or user.wharf("version").returncode == 0,
                          timeout=30), "wharfd --rootless did not answer"
        assert proc.poll() is None, _tail(log)
        r = user.wharf("image", "bootstrap", "busybox")
        assert r.returncode == 0, r.stderr + _tail(log)
        yield user
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        text = _tail(log)
        log.close()
        left = os.listdir(user.runtime)
        assert code == 0, text
        # the daemon's run-state directory stays, as dockerd's: its socket and parent's state go
        assert left in ([], ["wharf"]), left
        assert eventually(lambda: not user.processes()), "\n".join(user.processes())


def _tail(log: IO[str]) -> str:
    log.seek(0)
    return "\n--- wharfd --rootless ---\n" + log.read()[-4000:]


def test_container_root_is_root_inside(daemon: User) -> None:
    r = daemon.wharf("run", "--rm", "busybox", "id", "-u")
    assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr


def test_privileged_gets_the_hosts_devices(daemon: User) -> None:
    """No mknod in a user namespace: the host's nodes are bound in, as runc does."""
    r = daemon.wharf("run", "--rm", "--privileged", "busybox", "sh", "-c",
                     "echo x > /dev/null && test -c /dev/zero && id -u")
    assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr


def test_container_processes_belong_to_the_user_on_the_host(daemon: User) -> None:
    """Container root is the user; container uid 1000 is a subordinate uid."""
    seconds = f"1{secrets.randbelow(10**6)}7"  # a command line no other process has
    r = daemon.wharf("run", "-d", "--user", "1000", "busybox", "sleep", seconds)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        def sleeper() -> list[str]:
            return [p for p in daemon.processes() if p.endswith(f"sleep {seconds} ")]
        assert eventually(lambda: bool(sleeper()))
        uid = int(sleeper()[0].split()[1].removeprefix("uid="))
        assert uid == daemon.subuid[0] + 999 and uid != 0
    finally:
        daemon.wharf("rm", "-f", cid)


def test_published_port_serves_on_the_host(daemon: User) -> None:
    r = daemon.wharf("run", "-d", "-p", f"127.0.0.1:{WEB_PORT}:80", "busybox", "sh", "-c",
                     "mkdir /www && echo hello from rootless > /www/index.html && "
                     "exec httpd -f -p 80 -h /www")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        got: list[str] = []

        def fetch() -> bool:
            out = subprocess.run(["busybox", "nc", "127.0.0.1", str(WEB_PORT)],
                                 input="GET / HTTP/1.0\r\n\r\n", capture_output=True,
                                 text=True, timeout=10).stdout
            got[:] = [out]
            return "hello from rootless" in out
        assert eventually(fetch), got
        assert got[0].startswith("HTTP/1.")
        r = daemon.wharf("port", cid)
        assert r.stdout == f"80/tcp -> 127.0.0.1:{WEB_PORT}\n"
    finally:
        daemon.wharf("rm", "-f", cid)
    with socket.socket() as s:  # the host port went with the container
        assert eventually(lambda: s.connect_ex(("127.0.0.1", WEB_PORT)) != 0)


def test_privileged_port_is_refused_with_the_fix(daemon: User) -> None:
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if int(f.read()) <= 80:
            pytest.skip("this host lets users bind port 80")
    r = daemon.wharf("run", "--rm", "-p", "127.0.0.1:80:80", "busybox", "true")
    assert r.returncode == 125
    assert "cannot expose privileged port 80, you can add " \
           "'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf" in r.stderr


def test_info_says_rootless_without_cgroups(daemon: User) -> None:
    """On a cgroup v1 host, Docker's warning; limits are dropped, not refused; pause,
    which needs a cgroup, is refused."""
    r = daemon.wharf("info")
    assert r.returncode == 0, r.stderr
    assert " Cgroup Driver: none\n" in r.stdout
    assert "WARNING: Running in rootless-mode without cgroups." in r.stdout
    assert f" Docker Root Dir: {daemon.home}/.local/share/wharf\n" in r.stdout
    r = daemon.wharf("run", "-d", "-m", "64m", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        top = daemon.wharf("top", cid).stdout.splitlines()  # its PID namespace, not a cgroup
        assert [line.split()[-2:] for line in top[1:]] == [["sleep", "300"]], top
        r = daemon.wharf("pause", cid)
        assert r.returncode == 1 and "has no cgroups to freeze it with" in r.stderr
    finally:
        daemon.wharf("rm", "-f", cid)


def test_build_push_pull(daemon: User, registry: int) -> None:
    """A build whose layers delete and re-make a directory (whiteouts, an opaque
    directory in an overlay of the user's namespace), pushed and pulled back."""
    context = os.path.join(daemon.home, "ctx")
    os.makedirs(context)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN mkdir /d && touch /d/old && chown 1234 /d/old\n"
                "RUN rm -rf /d && mkdir /d && touch /d/new\nCMD [\"ls\", \"/d\"]\n")
    shutil.chown(context, daemon.uid, daemon.gid)
    image = f"10.0.2.2:{registry}/rootless/built"
    r = daemon.wharf("build", "-q", "-t", image, context, timeout=120)
    assert r.returncode == 0, r.stderr
    assert daemon.wharf("push", image).returncode == 0
    assert daemon.wharf("rmi", image).returncode == 0
    r = daemon.wharf("pull", image)
    assert r.returncode == 0, r.stderr
    r = daemon.wharf("run", "--rm", image)
    assert (r.returncode, r.stdout) == (0, "new\n"), r.stderr
