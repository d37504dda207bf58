"""The in-process OCI runtime: turn a bundle's spec into a running process.

``spawn`` forks the container's init straight into a new PID namespace (the
caller's *children* namespace is switched around ``fork`` and back, so the
init is PID 1 and still the caller's child: the shim can ``waitpid`` it and
no extra process or Python start is paid). The parent puts the child in its
cgroup while the child unshares its other namespaces and builds its rootfs;
then the child drops to the spec's user and capabilities and execs. Setup errors
travel back over a close-on-exec pipe, so "the pipe closed empty" means the
exec succeeded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import termios
from typing import Any, Callable, Iterable

from wharf.linux import syscalls as sc
from wharf.runtime import caps, cgroups, devices, rootfs, seccomp, startgate, sysctl, userns

#: OCI namespace type -> (/proc/PID/ns name, clone flag)
NAMESPACES = {
    "pid": ("pid", sc.CLONE_NEWPID), "network": ("net", sc.CLONE_NEWNET),
    "ipc": ("ipc", sc.CLONE_NEWIPC), "uts": ("uts", sc.CLONE_NEWUTS),
    "mount": ("mnt", sc.CLONE_NEWNS), "cgroup": ("cgroup", sc.CLONE_NEWCGROUP),
    "user": ("user", sc.CLONE_NEWUSER),
}
#: join order for exec: the mount namespace late, so /proc/PID paths stay valid until then;
#: the user namespace last (joining the others needs the host's capabilities)
_JOIN_ORDER = ("cgroup", "ipc", "uts", "network", "pid", "mount", "user")
#: how often a parent waiting for its child's exec checks that it is not stopped (s)
_STOP_CHECK = 0.05


class SpawnError(Exception):
    """The container process could not be started.

    ``kind`` is ``not_found`` (CLI exit 127), ``not_executable`` (126) or
    ``other`` (125).
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class _SetupError(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _fork(pid_ns: str | None) -> int:
    """``os.fork`` into a new PID namespace ("new"), the one at path ``pid_ns``, or ours.

    Only the caller's namespace *for children* changes, and only around the
    fork: the parent switches it back, so its later children are unaffected.
    """
    if pid_ns is None:
        return os.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if pid_ns == "new":
            sc.unshare(sc.CLONE_NEWPID)
        else:
            fd = os.open(pid_ns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.CLONE_NEWPID)
            finally:
                os.close(fd)
        pid = os.fork()
    finally:
        if pid != 0:  # the child is already where it belongs
            sc.setns(own, sc.CLONE_NEWPID)
        os.close(own)
    return pid


def spawn(bundle: str, spec: dict[str, Any], stdio: tuple[int, int, int] = (0, 1, 2),
          console_socket: int | None = None, gate: int | None = None) -> int:
    """Start the container of ``spec``; returns its init's host pid once it has exec'd.

    With ``console_socket`` (``-t``; a connected unix socket, as runc's
    ``--console-socket``) the init makes a pty inside the container's own
    devpts, so that ``tty`` says ``/dev/pts/0`` as under Docker: the slave
    becomes its controlling terminal, stdio and /dev/console, and the master
    is sent over the socket (take it with ``recv_console``). With ``gate`` (the
    read end of a start gate, ``startgate``) it execs only once the engine says go.
    """
    linux = spec.get("linux") or {}
    root = os.path.join(bundle, spec["root"]["path"])
    join: list[tuple[int, int]] = []
    new_flags = 0
    pid_ns: str | None = None
    user: list[int] = []  # the user namespace's fd, entered last (``wharf.runtime.userns``)
    try:
        for ns in linux.get("namespaces") or []:
            _, flag = NAMESPACES[ns["type"]]
            if ns["type"] == "pid":
                pid_ns = ns.get("path") or "new"
            elif ns["type"] == "user":
                user.append(os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC) if ns.get("path")
                            else userns.create(linux.get("uidMappings") or [],
                                               linux.get("gidMappings") or []))
            elif ns.get("path"):
                join.append((os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC), flag))
            else:
                new_flags |= flag
        cg = cgroups.open(linux["cgroupsPath"]) if linux.get("cgroupsPath") else None

        def place(pid: int) -> None:
            if cg:
                cg.apply(linux.get("resources") or {})
                cg.add(pid)

        def enter() -> None:
            for fd, flag in join:
                sc.setns(fd, flag)
            if new_flags & ~sc.CLONE_NEWCGROUP:
                sc.unshare(new_flags & ~sc.CLONE_NEWCGROUP)

        def placed() -> None:  # a cgroup namespace is rooted where the process is
            if new_flags & sc.CLONE_NEWCGROUP:
                sc.unshare(sc.CLONE_NEWCGROUP)
            for fd in user:
                sc.setns(fd, sc.CLONE_NEWUSER)

        def setup() -> None:
            sysctl.apply(linux.get("sysctl") or {})
            if new_flags & sc.CLONE_NEWNS:
                rootfs.prepare(spec, root)
                devices.create(linux.get("devices") or [])
            if spec.get("hostname") and new_flags & sc.CLONE_NEWUTS:
                sc.sethostname(spec["hostname"])

        try:
            if cg:  # before the fork: the rootfs shows it at /sys/fs/cgroup (cgroupview)
                cg.create()
            return _start(pid_ns, enter, setup, place, spec["process"], stdio, console_socket,
                          seccomp.program_for(spec), init=True, placed=placed,
                          gate=lambda: startgate.wait(gate),
                          keep=[fd for fd, _ in join] + user)
        except BaseException:
            if cg:
                cg.destroy()
            raise
    finally:
        for fd in [fd for fd, _ in join] + user:
            os.close(fd)


def spawn_exec(init_pid: int, spec: dict[str, Any], process: dict[str, Any],
               stdio: tuple[int, int, int] = (0, 1, 2), console_socket: int | None = None) -> int:
    """Start ``process`` (OCI ``process``) inside the running container of ``init_pid``
    (``console_socket`` as for ``spawn``)."""
    linux = spec.get("linux") or {}
    kinds = {ns["type"] for ns in linux.get("namespaces") or []}
    fds = []
    try:
        for kind in _JOIN_ORDER:
            if kind in kinds and kind != "pid":
                name, flag = NAMESPACES[kind]
                fds.append((os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))
        cg = cgroups.open(linux["cgroupsPath"]) if linux.get("cgroupsPath") else None
        pid_ns = f"/proc/{init_pid}/ns/pid" if "pid" in kinds else None

        def enter() -> None:
            for fd, flag in fds:
                sc.setns(fd, flag)

        return _start(pid_ns, enter, lambda: None, cg.add if cg else lambda pid: None,
                      process, stdio, console_socket, seccomp.program_for(spec),
                      keep=[fd for fd, _ in fds])
    finally:
        for fd, _ in fds:
            os.close(fd)


def _start(pid_ns: str | None, enter: Callable[[], None], setup: Callable[[], None],
           place: Callable[[int], None], process: dict[str, Any],
           stdio: tuple[int, int, int], console_socket: int | None,
           seccomp_filter: bytes | None = None, init: bool = False,
           placed: Callable[[], None] = lambda: None,
           gate: Callable[[], bool] = lambda: True, keep: Iterable[int] = ()) -> int:
    """Fork; the child ``enter``s its namespaces and runs ``setup`` (its rootfs) while
    the parent ``place``s it in its cgroup: the slowest steps overlap (moving a
    process into a v1 cgroup waits for an RCU grace period, ~10 ms). Only then,
    and after ``placed``, does the child drop privileges and exec, so nothing of
    the container's own runs outside its cgroup, and after the engine's ``gate``
    (``startgate``) says go. Returns once exec succeeded, or raises the child's
    error as ``SpawnError``.

    The child is visible to the container from its first instant (it is
    forked into the container's PID namespace), so it is born non-dumpable
    (the flag is inherited, set here around the fork): the container's root
    cannot open its /proc/PID/{exe,fd,mem,environ} nor ptrace it. It keeps
    only the fds it needs (``keep``: the namespaces to join; stdio, the
    console socket and its two pipes), closing every other fd of the caller
    at once, and everything but the close-on-exec error pipe before execve,
    where the kernel makes it dumpable again for the container's own binary.
    """
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    dumpable = sc.prctl(sc.PR_GET_DUMPABLE)
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    pid = -1
    try:
        pid = _fork(pid_ns)
    finally:
        if pid != 0:
            sc.prctl(sc.PR_SET_DUMPABLE, dumpable)
    if pid == 0:  # the child never returns from here
        try:
            signal.set_wakeup_fd(-1)  # the caller's wakeup fd is about to close
            console_fd = () if console_socket is None else (console_socket,)
            sc.close_fds_except({go_r, err_w, *stdio, *console_fd, *keep})
            enter()
            setup()
            console = _make_console(console_socket, init) if console_socket is not None else None
            if os.read(go_r, 1) != b"1":
                os._exit(1)  # the parent gave up on us
            placed()
            _exec(process, stdio, console, err_w, seccomp_filter)
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
            kind = e.kind if isinstance(e, _SetupError) else "other"
            message = str(e) or type(e).__name__
            try:
                os.write(err_w, json.dumps({"message": message, "kind": kind}).encode())
            finally:
                os._exit(127)
    os.close(go_r)
    os.close(err_w)
    try:
        try:
            place(pid)
            if not gate():
                raise SpawnError("the engine cancelled the start")
            os.write(go_w, b"1")
        except BaseException as e:
            # the child may have failed first (then its error is the real one)
            _reap(pid, kill=True)
            _raise_report(_read_all(err_r))
            if isinstance(e, OSError):  # it died (the container can kill it): ESRCH, EPIPE
                raise SpawnError(f"the process died before it could start: "
                                 f"{os.strerror(e.errno or 0).lower()}") from None
            raise
        finally:
            os.close(go_w)
        report = _await_report(err_r, pid)
    except BaseException:
        _reap(pid, kill=True)
        raise
    finally:
        os.close(err_r)
    if report:
        _reap(pid)
        _raise_report(report)
    return pid


def _raise_report(report: bytes) -> None:
    """Raise the child's error report (if it sent one) as ``SpawnError``."""
    if not report:
        return
    try:
        error = json.loads(report)
    except ValueError:  # cut short: still the child's words
        raise SpawnError(report.decode(errors="replace")) from None
    raise SpawnError(error["message"], error["kind"])


def _await_report(err_r: int, pid: int) -> bytes:
    """The child's error report, empty once it exec'd. The child is in the
    container's PID namespace, so the container can SIGSTOP it: one found
    stopped is killed and reported, rather than block the caller (the shim,
    whose single loop serves exec, logs, stop and wait) forever."""
    chunks = []
    while True:
        ready, _, _ = select.select([err_r], [], [], _STOP_CHECK)
        if not ready:
            # execve closes the pipe before the new program can be stopped: a process
            # found stopped whose pipe is readable now exec'd (a tracer caught it after).
            if _stopped(pid) and not select.select([err_r], [], [], 0)[0]:
                raise SpawnError("the process was stopped before it could start")
            continue
        chunk = os.read(err_r, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal or a tracer (state T or t)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _reap(pid: int, kill: bool = False) -> None:
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def recv_console(sock: socket.socket) -> int:
    """The pty master a container sent over its console socket."""
    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if not fds:
        raise SpawnError("the container sent no terminal", "other")
    return fds[0]


# -- in the child --------------------------------------------------------------

def _make_console(console_socket: int, init: bool) -> int:
    """A pty from the container's own /dev/ptmx; the master goes to the caller,
    the slave is kept as the terminal (and, for init, bound on /dev/console)."""
    master, slave = os.openpty()
    if init:
        rootfs.bind_console(os.ttyname(slave))
    with socket.socket(fileno=os.dup(console_socket)) as sock:
        socket.send_fds(sock, [b"\0"], [master])
    os.close(master)
    return slave


_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


def _exec(process: dict[str, Any], stdio: tuple[int, int, int], console: int | None,
          report_fd: int, seccomp_filter: bytes | None = None) -> None:
    """Process setup from an OCI ``process``, ending in execve (or an exception).

    runc's order: no_new_privs first; without it the filter must go in while we
    still have CAP_SYS_ADMIN (before the user switch), with it as late as
    possible, right before execve.
    """
    nnp = bool(process.get("noNewPrivileges"))
    if nnp:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    for rl in process.get("rlimits") or []:
        resource.setrlimit(_RLIMITS[rl["type"]], (rl["soft"], rl["hard"]))
    env = dict(e.split("=", 1) for e in process.get("env") or [] if "=" in e)
    cwd = process.get("cwd") or "/"
    rootfs.ensure_cwd(cwd)
    _setup_stdio(stdio, console, process.get("consoleSize"))
    if seccomp_filter and not nnp:
        seccomp.install(seccomp_filter)
    _set_user(process)
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # an id change resets it to fs.suid_dumpable
    try:
        os.chdir(cwd)
    except OSError as e:
        raise _SetupError(f'chdir to cwd ("{cwd}") set in config.json failed: '
                          f'{os.strerror(e.errno).lower()}', "other") from None
    args = process["args"]
    path = _look_path(args[0], env.get("PATH", ""))
    for sig in signal.valid_signals():  # ignored dispositions would survive exec
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    sc.close_fds_except({report_fd})  # close-on-exec: it tells the parent exec succeeded
    if seccomp_filter and nnp:
        seccomp.install(seccomp_filter)
    try:
        os.execve(path, args, env)
    except OSError as e:
        kind = {13: "not_executable", 2: "not_found"}.get(e.errno or 0, "other")
        raise _SetupError(f'exec: "{args[0]}": {os.strerror(e.errno).lower()}', kind) from None


def _setup_stdio(stdio: tuple[int, int, int], console: int | None,
                 size: dict[str, int] | None) -> None:
    """New session; a pty as controlling terminal and stdio, or the given fds."""
    os.setsid()
    if console is not None:
        fcntl.ioctl(console, termios.TIOCSCTTY, 0)
        if size:
            fcntl.ioctl(console, termios.TIOCSWINSZ,
                        struct.pack("HHHH", size["height"], size["width"], 0, 0))
        stdio = (console, console, console)
    # move out of 0..2 first, so (1, 0, 2) or fds below 3 cannot clobber each other
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)


def _set_user(process: dict[str, Any]) -> None:
    """Bounding set, groups, ids, then the other capability sets (order matters)."""
    user = process.get("user") or {}
    capabilities = process.get("capabilities") or {}
    if "bounding" in capabilities:
        caps.drop_bounding(caps.mask(capabilities["bounding"]))
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    os.setgroups(user.get("additionalGids") or [])
    os.setresgid(gid, gid, gid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    caps.set_process(capabilities)


def _look_path(name: str, path_env: str) -> str:
    """Go's exec.LookPath inside the container, with Docker's error wording."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as e:
            raise _SetupError(f'exec: "{name}": stat {name}: {os.strerror(e.errno).lower()}',
                              "not_found") from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise _SetupError(f'exec: "{name}": permission denied', "not_executable")
        return name
    for directory in path_env.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise _SetupError(f'exec: "{name}": executable file not found in $PATH', "not_found")
