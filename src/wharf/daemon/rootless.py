"""``wharfd --rootless``: a user's daemon in namespaces of its own, as RootlessKit
runs dockerd for ``dockerd-rootless.sh``.

The user's process, the *parent*, forks a *child* that unshares user, mount and
network namespaces. The parent maps the user's ranges of ``/etc/subuid`` and
``/etc/subgid`` into it with ``newuidmap``/``newgidmap`` (setuid helpers: the only
privileged step; container uid N is host uid start+N-1, container root is the
user), plugs ``slirp4netns`` into its network namespace (``tap0``, 10.0.2.100, NAT
to the host's network by a user process), then lets it go. The child becomes
root of its user namespace and starts the init of a new PID namespace (with its
own /proc), which runs wharfd: that wharfd has
every capability over the namespaces it owns (mounts, overlayfs since Linux
5.11, bridges, nftables), none over the host's. Host ports are the parent's job:
it binds published ports for the daemon on its port API
(``wharf.network.hostports``).

TERM, INT and HUP sent to the parent go to wharfd. When wharfd exits, the child
exits with its status (and when the parent dies, SIGKILL ends the child, its init
and so everything in its PID namespace), and the parent stops slirp4netns, removes its state
directory (``$XDG_RUNTIME_DIR/wharfd-rootless``: the port API socket,
``child_pid`` for ``nsenter``) and exits with that status too.
"""

from __future__ import annotations

import logging
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import traceback
from typing import Callable, NoReturn

from wharf.config import DaemonConfig
from wharf.engine import hostinfo
from wharf.linux import syscalls as sc
from wharf.network import hostports
from wharf.runtime import delegation

log = logging.getLogger("wharfd")
#: Set by the parent for the wharfd it runs: the port API's path (and "you are inside").
PORT_DRIVER_ENV = "_WHARFD_ROOTLESS_PORT_DRIVER"
#: "false" lets containers reach the host's loopback at 10.0.2.2 (dockerd-rootless.sh's
#: DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK).
HOST_LOOPBACK_ENV = "WHARFD_ROOTLESS_DISABLE_HOST_LOOPBACK"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_TAP = "tap0"


class RootlessError(Exception):
    """Why a rootless daemon cannot start on this host, in words that say what to fix."""


def inside() -> str:
    """The port API of the parent that runs this wharfd, "" when there is none."""
    return os.environ.get(PORT_DRIVER_ENV, "")


def subordinate_range(path: str, user: pwd.struct_passwd) -> tuple[int, int]:
    """(start, count) of the first range ``path`` (``/etc/subuid`` or ``/etc/subgid``)
    gives ``user``, by name or by uid, as newuidmap reads them."""
    try:
        with open(path) as f:
            for line in f:
                owner, _, rest = line.strip().partition(":")
                start, _, count = rest.partition(":")
                if owner in (user.pw_name, str(user.pw_uid)) and start.isdigit() and count.isdigit():
                    return int(start), int(count)
    except FileNotFoundError:
        pass
    raise RootlessError(f"no subordinate ids for user {user.pw_name} in {path}: add a line "
                        f"such as {user.pw_name}:100000:65536 (usermod --add-subuids/--add-subgids)")


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise RootlessError(f"{', '.join(missing)} not found: install Debian's uidmap and "
                            "slirp4netns packages")


def run(argv: list[str], config: DaemonConfig) -> int:
    """The parent: set up the namespaces, run wharfd inside, serve the port API until
    it exits; its exit status."""
    if os.geteuid() == 0:
        raise RootlessError("--rootless must be run by a non-root user")
    _require("newuidmap", "newgidmap", "slirp4netns")
    user = pwd.getpwuid(os.getuid())
    uids = subordinate_range("/etc/subuid", user)
    gids = subordinate_range("/etc/subgid", user)
    state = os.path.join(os.path.dirname(config.exec_root), "wharfd-rootless")
    os.makedirs(state, 0o700, exist_ok=True)
    api_path = os.path.join(state, "api.sock")
    api = _listen(api_path)
    ours, theirs = socket.socketpair()
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        api.close()
        ours.close()
        _child(theirs, argv, api_path, parent)
    theirs.close()
    slirp = None
    try:
        if ours.recv(1) != b"1":
            raise RootlessError("the namespaces' child died before it was ready (see above)")
        _map("newuidmap", child, os.getuid(), *uids)
        _map("newgidmap", child, os.getgid(), *gids)
        slirp = _slirp4netns(child)
        _evacuate_cgroup()
        with open(os.path.join(state, "child_pid"), "w") as f:
            f.write(str(child))
        for sig in _FORWARDED:
            signal.signal(sig, lambda s, _frame: os.kill(child, s))
        ours.sendall(b"1")
        return _serve(api, child)
    except BaseException:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        raise
    finally:
        ours.close()
        api.close()
        if slirp is not None:
            slirp.terminate()
            slirp.wait()
        shutil.rmtree(state, ignore_errors=True)


def _evacuate_cgroup() -> None:
    """In a delegated cgroup v2, move this process, the child and slirp4netns to its
    leaf (they are outside wharfd's PID namespace, so wharfd cannot), so that wharfd
    may enable controllers there for its containers."""
    path = delegation.mine()
    if path is not None:
        delegation.evacuate(path)


def take_cgroup(config: DaemonConfig) -> None:
    """Inside: the delegated cgroup v2 this daemon was started in, if any, becomes
    the home of its cgroup parent (the driver cgroupfs); else no cgroups, with
    Docker's warning."""
    try:
        taken = delegation.take()
    except OSError as e:
        log.warning("cannot use the delegated cgroup: %s", e)
        taken = None
    if taken is None:
        log.warning(hostinfo.no_cgroups_warning())
        return
    path, controllers = taken
    config.delegated_cgroup, config.delegated_controllers = path, tuple(controllers)
    config.cgroup_parent = f"{path.strip('/')}/{config.cgroup_parent.strip('/')}"
    log.info("rootless: cgroup v2 delegated at %s (controllers: %s)", path,
             " ".join(controllers) or "none")


def _listen(path: str) -> socket.socket:
    if os.path.exists(path):
        os.unlink(path)  # a parent killed with -9 left it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


def _map(tool: str, pid: int, own: int, start: int, count: int) -> None:
    """Inside id 0 is the user's own, 1.. its subordinate range."""
    result = subprocess.run([tool, str(pid), "0", str(own), "1", "1", str(start), str(count)],
                            capture_output=True, text=True)
    if result.returncode:
        raise RootlessError(f"{tool} failed: {result.stderr.strip() or result.returncode}")


def _slirp4netns(pid: int) -> subprocess.Popen[bytes]:
    """slirp4netns on the child's network namespace, once it says ``tap0`` is up; it
    exits by itself when this process does (its exit fd reads EOF)."""
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    os.set_inheritable(exit_w, False)
    args = ["slirp4netns", "--configure", "--mtu=65520", f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}", "--enable-sandbox", "--enable-seccomp"]
    if os.environ.get(HOST_LOOPBACK_ENV, "true") != "false":
        args.append("--disable-host-loopback")
    proc = subprocess.Popen([*args, str(pid), _TAP], pass_fds=(ready_w, exit_r),
                            stdout=subprocess.DEVNULL)
    os.close(ready_w)
    os.close(exit_r)
    with os.fdopen(ready_r, "rb") as ready:
        if ready.read(1) != b"1":
            proc.wait()
            os.close(exit_w)
            raise RootlessError(f"slirp4netns failed (exit status {proc.returncode})")
    return proc  # exit_w stays open, unread, for the life of this process


def _serve(api: socket.socket, child: int) -> int:
    """Answer port requests until the child exits; its exit status."""
    pidfd = os.pidfd_open(child)
    with selectors.DefaultSelector() as sel:
        sel.register(api, selectors.EVENT_READ)
        sel.register(pidfd, selectors.EVENT_READ)
        while True:
            ready = {key.fileobj for key, _ in sel.select()}
            if pidfd in ready:
                os.close(pidfd)
                return sc.exit_code(os.waitpid(child, 0)[1])
            conn, _ = api.accept()
            with conn:
                try:
                    hostports.serve(conn)
                except (OSError, ValueError, KeyError) as e:
                    log.warning("rootless port driver: %s", e)


def _die_with(parent: int) -> None:
    """SIGKILL this process when ``parent`` dies (a parent killed with -9 takes its
    namespaces' processes with it: the init's death ends its PID namespace)."""
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() not in (parent, 0):  # it died before that (0: a parent outside our
        os._exit(1)                      # PID namespace, which cannot be told)


def _mount_sysfs(spare: str) -> None:
    """A sysfs of this network namespace at /sys (the host's shows the host's interfaces,
    not the bridge and veths this daemon makes), the host's /sys/fs/cgroup kept under it."""
    os.makedirs(spare, exist_ok=True)
    sc.mount("/sys/fs/cgroup", spare, None, sc.MS_BIND | sc.MS_REC)
    sc.mount("sysfs", "/sys", "sysfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    sc.mount(spare, "/sys/fs/cgroup", None, sc.MS_BIND | sc.MS_REC)
    sc.umount2(spare, sc.MNT_DETACH)


def _child(sync: socket.socket, argv: list[str], api_path: str, parent: int) -> NoReturn:
    """In new user, mount, network and PID namespaces: wait to be mapped, become root,
    set the mounts up, start the namespace's init, pass the parent's signals on to it
    and exit with its status.

    The PID namespace is wharfd's, not only its containers': the runtime forks a
    container into a new PID namespace and then returns to its own with setns(2),
    which a user namespace allows only into a PID namespace it owns.
    """
    try:
        sc.unshare(sc.CLONE_NEWUSER | sc.CLONE_NEWNS | sc.CLONE_NEWNET | sc.CLONE_NEWPID)
        sync.sendall(b"1")
        if sync.recv(1) != b"1":
            os._exit(1)
        sync.close()
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
        _die_with(parent)  # after the new credentials, which clear it
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)  # none of ours reach the host
        _mount_sysfs(os.path.join(os.path.dirname(api_path), "cgroup"))
        sc.interface_up("lo")
        _run_forwarding(lambda: _init(argv, api_path))
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def _init(argv: list[str], api_path: str) -> NoReturn:
    """PID 1 of the namespace: its own /proc, then wharfd; reaps every orphan (the shim
    host's first fork) until wharfd exits."""
    sc.mount("proc", "/proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    env = {**os.environ, PORT_DRIVER_ENV: api_path}
    _run_forwarding(lambda: os.execve(
        sys.executable, [sys.executable, "-m", "wharf.daemon.main", *argv], env))


def _run_forwarding(start: Callable[[], object]) -> NoReturn:
    """Fork a process that runs ``start``; pass TERM, INT and HUP on to it, reap every
    child meanwhile, and exit with its status when it exits."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            _die_with(parent)
            start()
        finally:
            os._exit(1)
    for sig in _FORWARDED:
        signal.signal(sig, lambda s, _frame: os.kill(pid, s))
    while True:
        done, status = os.wait()
        if done == pid:
            os._exit(sc.exit_code(status))
