"""``wharfd --rootless`` run by a user that ``useradd`` just made (issue #19).

The user and its daemon are ``support.rootless``'s. The daemon is started with
host loopback allowed (``10.0.2.2`` is the host's 127.0.0.1), so it can push to
and pull from a registry this test serves on the host's loopback. The cgroup v2
delegation tests are ``test_rootless_cgroup2.py`` (they need a cgroup v2 host).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from typing import Iterator

import pytest

from support import rootless
from support.polling import eventually
from support.rootless import BIN, User

WEB_PORT = 18081  # the issue's: -p 127.0.0.1:18081:80
UDP_PORT = 18082
UDP_PROBE_SOURCE = os.path.join(os.path.dirname(__file__), "udp_echo_probe.c")


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    with rootless.new_user() as made:
        yield made


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
    with rootless.daemon(user, f"--insecure-registry=10.0.2.2:{registry}",
                         WHARFD_ROOTLESS_DISABLE_HOST_LOOPBACK="false"):
        yield user


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


def test_published_udp_port_answers_on_the_host(daemon: User) -> None:
    """-p .../udp: a datagram to the host's loopback reaches the container and its
    answer comes back (busybox has no UDP nc: a small static echo server, bound in)."""
    probe = os.path.join(daemon.home, "udp_echo_probe")
    subprocess.run(["gcc", "-static", "-O1", "-o", probe, UDP_PROBE_SOURCE], check=True)
    r = daemon.wharf("run", "-d", "-p", f"127.0.0.1:{UDP_PORT}:{UDP_PORT}/udp",
                     "-v", f"{probe}:/udp_echo:ro", "busybox", "/udp_echo", str(UDP_PORT))
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)

            def answered() -> bool:  # (a datagram sent before the relay was up is lost)
                s.sendto(b"ping", ("127.0.0.1", UDP_PORT))
                try:
                    return s.recv(64) == b"echo: ping"
                except TimeoutError:
                    return False
            assert eventually(answered, timeout=30)
        assert daemon.wharf("port", cid).stdout == f"{UDP_PORT}/udp -> 127.0.0.1:{UDP_PORT}\n"
    finally:
        daemon.wharf("rm", "-f", cid)


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
