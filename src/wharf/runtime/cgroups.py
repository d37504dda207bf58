"""A container's cgroup, on cgroup v1 or v2, behind one small interface.

``open(cgroups_path)`` looks at what is mounted under the root and returns a
``V1Cgroup`` (one directory per controller hierarchy) or a ``V2Cgroup`` (one
directory in the unified tree). Both take OCI ``linux.resources`` and give
Docker's stats JSON shapes, so the runtime, the shim and the daemon never
care which version the host runs. ``root`` is a parameter so the logic can be
tested on a fake tree in a tmp dir.
"""

from __future__ import annotations

import builtins
import errno
import os
import signal
import time
from typing import Any

from wharf.linux import userns
from wharf.runtime import devicefilter

#: v1 hierarchies a container is placed in: runc's, with name=systemd (no controller, but
#: the container's /sys/fs/cgroup/systemd shows its own cgroup as under Docker).
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "systemd")
_UNLIMITED_V1 = 1 << 62  # memory.limit_in_bytes reads about 2**63 when unlimited
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NS = 1_000_000_000


def _read(path: str, default: str = "") -> str:
    try:
        with builtins.open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _read_int(path: str, default: int = 0) -> int:
    value = _read(path)
    try:
        return int(value)
    except ValueError:
        return default


def _read_kv(path: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events) as ints."""
    out = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            pass
    return out


def _write(path: str, value: str | int) -> None:
    """One write(2) of ``value``: cgroupfs takes each write as one command.

    O_CREAT only matters on a fake tree in tests; cgroupfs refuses new files.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OSError(e.errno, f"write {value!r} to {path}: {os.strerror(e.errno)}") from None
    finally:
        os.close(fd)


def _system_cpu_usage() -> int:
    """Host CPU time in ns since boot, as Docker's ``system_cpu_usage``."""
    for line in _read("/proc/stat").splitlines():
        if line.startswith("cpu "):
            return sum(int(v) for v in line.split()[1:8]) * _NS // _CLK_TCK
    return 0


def _host_memory() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


class Cgroup:
    """What both versions share: the path, the levels made, and teardown."""

    def __init__(self, cgroups_path: str, root: str) -> None:
        self.path = "/" + cgroups_path.strip("/")
        self.root = root
        self._created: list[str] = []

    def _mkdirs(self, base: str) -> list[str]:
        """Make every missing level of ``self.path`` under ``base``; returns them, top first."""
        made = []
        current = base
        for part in self.path.strip("/").split("/"):
            current = os.path.join(current, part)
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                continue
            made.append(current)
        self._created += made
        return made

    def dirs(self) -> list[str]:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def destroy(self, timeout: float = 10.0) -> None:
        """Kill what is left, then remove the cgroup and the levels this object made."""
        if not any(os.path.isdir(d) for d in self.dirs()):
            return
        self.thaw()  # frozen tasks cannot die
        _wait_for(lambda: not _kill_and_list(self), f"processes of cgroup {self.path} to exit",
                  timeout)
        for d in self.dirs():
            for sub in _tree(d):
                _rmdir(sub)
        for d in sorted(self._created, key=len, reverse=True):
            try:
                _rmdir(d)
            except OSError as e:  # a parent another container still uses
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
        self._created = []


def _tree(top: str) -> list[str]:
    """``top`` and the cgroups below it, deepest first (the order rmdir needs): a
    privileged container may make its own (Docker in Docker moves itself into one)."""
    return [d for d, _, _ in os.walk(top, topdown=False)]


def _kill_and_list(cg: Cgroup) -> list[int]:
    """Kill every process in the container's cgroups and below; the ones found."""
    pids = sorted({int(p) for d in cg.dirs() for sub in _tree(d)
                   for p in _read(os.path.join(sub, "cgroup.procs")).split()})
    _kill_all(pids)
    return pids


class V1Cgroup(Cgroup):
    """One directory per controller hierarchy (/sys/fs/cgroup/<controller>/<path>)."""

    def _controllers(self) -> dict[str, str]:
        return {c: os.path.join(self.root, c) for c in V1_CONTROLLERS
                if os.path.isdir(os.path.join(self.root, c))}

    def dir(self, controller: str) -> str:
        return os.path.join(self.root, controller, self.path.lstrip("/"))

    def dirs(self) -> list[str]:
        return [self.dir(c) for c in self._controllers()]

    def create(self) -> None:
        for controller, base in self._controllers().items():
            self._mkdirs(base)
            if controller == "cpuset":
                self._fill_cpusets(base)

    def _fill_cpusets(self, base: str) -> None:
        """A new cpuset has no cpus/mems: nothing could join it (ENOSPC). Every empty
        level gets its parent's, top first, also one that a concurrent start has just
        made and not yet filled (runc's ensureParent rule)."""
        current = base
        for part in self.path.strip("/").split("/"):
            parent, current = current, os.path.join(current, part)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(current, f)):
                    _write(os.path.join(current, f), _read(os.path.join(parent, f)))

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self.dir(controller), name)

    def apply(self, resources: dict[str, Any]) -> None:
        """Write OCI ``linux.resources`` into the controllers' files."""
        mem = resources.get("memory") or {}
        if mem.get("reservation"):
            _write(self._file("memory", "memory.soft_limit_in_bytes"), mem["reservation"])
        self._set_memory(mem.get("limit"), mem.get("swap"))
        cpu = resources.get("cpu") or {}
        for key, controller, name in (("shares", "cpu", "cpu.shares"),
                                      ("period", "cpu", "cpu.cfs_period_us"),
                                      ("quota", "cpu", "cpu.cfs_quota_us"),
                                      ("cpus", "cpuset", "cpuset.cpus"),
                                      ("mems", "cpuset", "cpuset.mems")):
            if cpu.get(key):
                _write(self._file(controller, name), cpu[key])
        limit = (resources.get("pids") or {}).get("limit")
        if limit:
            _write(self._file("pids", "pids.max"), "max" if limit < 0 else limit)
        weight = (resources.get("blockIO") or {}).get("weight")
        if weight:
            _write(_first_existing(self._file("blkio", "blkio.weight"),
                                   self._file("blkio", "blkio.bfq.weight")), weight)
        if resources.get("devices") and os.path.isdir(self.dir("devices")):
            for rule in resources["devices"]:
                name = "devices.allow" if rule.get("allow") else "devices.deny"
                _write(self._file("devices", name), device_rule(rule))

    def _set_memory(self, limit: int | None, swap: int | None) -> None:
        """Limit and memory+swap, in whichever order the kernel accepts (limit ≤ memsw)."""
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        writes = []
        if limit:
            writes.append((self._file("memory", "memory.limit_in_bytes"), limit))
        if swap and os.path.exists(memsw):
            writes.append((memsw, swap))
        try:
            for path, value in writes:
                _write(path, value)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            for path, value in reversed(writes):
                _write(path, value)

    def add(self, pid: int) -> None:
        for d in self.dirs():
            _write(os.path.join(d, "cgroup.procs"), pid)

    def pids(self) -> list[int]:
        for controller in ("pids", "freezer", "memory"):
            procs = _read(self._file(controller, "cgroup.procs"))
            if procs or os.path.isdir(self.dir(controller)):
                return [int(p) for p in procs.split()]
        return []

    def _freezer(self, state: str) -> None:
        path = self._file("freezer", "freezer.state")
        _write(path, state)
        _wait_for(lambda: _read(path) == state, f"cgroup {self.path} to be {state}")

    def freeze(self) -> None:
        """FROZEN, asked again at each look: v1's freezer can stay FREEZING on a task
        that missed the first ask (one exiting, or forked meanwhile). As runc does,
        now and then a thaw and a pause improve the odds."""
        path = self._file("freezer", "freezer.state")
        rounds = 0

        def frozen() -> bool:
            nonlocal rounds
            rounds += 1
            if rounds % 50 == 0:
                _write(path, "THAWED")
                time.sleep(0.01)
            _write(path, "FROZEN")
            return _read(path) == "FROZEN"
        _wait_for(frozen, f"cgroup {self.path} to be FROZEN")

    def thaw(self) -> None:
        if os.path.exists(self._file("freezer", "freezer.state")):
            self._freezer("THAWED")

    def oom_killed(self) -> bool:
        oom = _read_kv(self._file("memory", "memory.oom_control"))
        return oom.get("oom_kill", 0) > 0 or oom.get("under_oom", 0) > 0

    def stats(self) -> dict[str, Any]:
        """Docker's stats JSON (cgroup v1 flavour)."""
        limit = _read_int(self._file("memory", "memory.limit_in_bytes"))
        host = _host_memory()
        acct = _read_kv(self._file("cpuacct", "cpuacct.stat"))
        throttle = _read_kv(self._file("cpu", "cpu.stat"))
        pids_max = _read(self._file("pids", "pids.max"))
        return {
            "memory_stats": {
                "usage": _read_int(self._file("memory", "memory.usage_in_bytes")),
                "max_usage": _read_int(self._file("memory", "memory.max_usage_in_bytes")),
                "failcnt": _read_int(self._file("memory", "memory.failcnt")),
                "limit": host if not limit or limit >= _UNLIMITED_V1 else min(limit, host),
                "stats": _read_kv(self._file("memory", "memory.stat")),
            },
            "cpu_stats": _cpu_stats(
                total=_read_int(self._file("cpuacct", "cpuacct.usage")),
                percpu=[int(v) for v in _read(self._file("cpuacct", "cpuacct.usage_percpu")).split()],
                kernel=acct.get("system", 0) * _NS // _CLK_TCK,
                user=acct.get("user", 0) * _NS // _CLK_TCK,
                throttling={"periods": throttle.get("nr_periods", 0),
                            "throttled_periods": throttle.get("nr_throttled", 0),
                            "throttled_time": throttle.get("throttled_time", 0)}),
            "pids_stats": _pids_stats(_read_int(self._file("pids", "pids.current")), pids_max),
        }


def device_rule(rule: dict[str, Any]) -> str:
    """An OCI device rule as a devices.allow/deny line: ``c 1:3 rwm``, ``a`` for all."""
    kind = rule.get("type", "a")
    if kind == "a" and "major" not in rule and "minor" not in rule:
        return "a"
    major = rule.get("major", "*")
    minor = rule.get("minor", "*")
    return f"{kind} {major}:{minor} {rule.get('access', 'rwm')}"


def _cpu_stats(total: int, percpu: list[int], kernel: int, user: int,
               throttling: dict[str, int]) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": total, "usage_in_kernelmode": kernel,
                             "usage_in_usermode": user}
    if percpu:
        usage["percpu_usage"] = percpu
    return {"cpu_usage": usage, "system_cpu_usage": _system_cpu_usage(),
            "online_cpus": len(os.sched_getaffinity(0)), "throttling_data": throttling}


def _pids_stats(current: int, limit: str) -> dict[str, int]:
    out = {"current": current}
    if limit.isdigit():
        out["limit"] = int(limit)
    return out


class V2Cgroup(Cgroup):
    """One directory in the unified hierarchy (/sys/fs/cgroup/<path>)."""

    def dir(self) -> str:
        return os.path.join(self.root, self.path.lstrip("/"))

    def dirs(self) -> list[str]:
        return [self.dir()]

    def _file(self, name: str) -> str:
        return os.path.join(self.dir(), name)

    def create(self) -> None:
        """Make the directory and delegate the root's controllers down to it: each
        level enables, in its subtree_control, what it has for the next (levels made
        here have none until their parent enabled them, so top down, after mkdir).
        A level this process may not write (above a rootless daemon's delegated
        cgroup, ``wharf.runtime.delegation``) stays as its owner set it."""
        self._mkdirs(self.root)
        current = self.root
        for part in self.path.strip("/").split("/"):
            wanted = _read(os.path.join(current, "cgroup.controllers")).split()
            control = os.path.join(current, "cgroup.subtree_control")
            if wanted and (not userns.inside() or os.access(control, os.W_OK)):
                _write(control, " ".join("+" + c for c in wanted))
            current = os.path.join(current, part)

    def apply(self, resources: dict[str, Any]) -> None:
        mem = resources.get("memory") or {}
        limit, swap = mem.get("limit"), mem.get("swap")
        if limit:
            _write(self._file("memory.max"), limit)
        if mem.get("reservation"):
            _write(self._file("memory.low"), mem["reservation"])
        if swap:  # OCI swap is memory+swap; v2 limits the swap alone
            _write(self._file("memory.swap.max"),
                   "max" if swap < 0 else max(swap - (limit or 0), 0))
        cpu = resources.get("cpu") or {}
        if cpu.get("shares"):
            _write(self._file("cpu.weight"), shares_to_weight(cpu["shares"]))
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota") or 0
            _write(self._file("cpu.max"),
                   f"{quota if quota > 0 else 'max'} {cpu.get('period') or 100000}")
        for key in ("cpus", "mems"):
            if cpu.get(key):
                _write(self._file(f"cpuset.{key}"), cpu[key])
        limit = (resources.get("pids") or {}).get("limit")
        if limit:
            _write(self._file("pids.max"), "max" if limit < 0 else limit)
        weight = (resources.get("blockIO") or {}).get("weight")
        if weight:  # io.weight is 1..10000; runc converts blkio's 10..1000 the same way
            _write(_first_existing(self._file("io.bfq.weight"), self._file("io.weight")),
                   weight if os.path.exists(self._file("io.bfq.weight"))
                   else 1 + (weight - 10) * 9999 // 990)
        # No devices controller on v2: an eBPF program decides. Attaching one needs
        # CAP_SYS_ADMIN in the host's user namespace, which a rootless daemon lacks; as
        # runc, it goes without (its user namespace already keeps host devices from its
        # containers: mknod is refused, and the nodes bound in keep their host owners).
        if resources.get("devices") and not userns.inside():
            devicefilter.attach(self.dir(), resources["devices"])

    def add(self, pid: int) -> None:
        _write(self._file("cgroup.procs"), pid)

    def pids(self) -> list[int]:
        return [int(p) for p in _read(self._file("cgroup.procs")).split()]

    def _set_frozen(self, frozen: int) -> None:
        _write(self._file("cgroup.freeze"), frozen)
        _wait_for(lambda: _read_kv(self._file("cgroup.events")).get("frozen") == frozen,
                  f"cgroup {self.path} frozen={frozen}")

    def freeze(self) -> None:
        self._set_frozen(1)

    def thaw(self) -> None:
        if os.path.exists(self._file("cgroup.freeze")):
            self._set_frozen(0)

    def oom_killed(self) -> bool:
        return _read_kv(self._file("memory.events")).get("oom_kill", 0) > 0

    def stats(self) -> dict[str, Any]:
        """Docker's stats JSON (cgroup v2 flavour: no percpu, no max_usage)."""
        host = _host_memory()
        limit = _read(self._file("memory.max"), "max")
        cpu = _read_kv(self._file("cpu.stat"))
        return {
            "memory_stats": {
                "usage": _read_int(self._file("memory.current")),
                "limit": int(limit) if limit.isdigit() else host,
                "stats": _read_kv(self._file("memory.stat")),
            },
            "cpu_stats": _cpu_stats(
                total=cpu.get("usage_usec", 0) * 1000, percpu=[],
                kernel=cpu.get("system_usec", 0) * 1000, user=cpu.get("user_usec", 0) * 1000,
                throttling={"periods": cpu.get("nr_periods", 0),
                            "throttled_periods": cpu.get("nr_throttled", 0),
                            "throttled_time": cpu.get("throttled_usec", 0) * 1000}),
            "pids_stats": _pids_stats(_read_int(self._file("pids.current")),
                                      _read(self._file("pids.max"))),
        }


def _first_existing(*paths: str) -> str:
    return next((p for p in paths if os.path.exists(p)), paths[0])


def blkio_weight_supported(root: str = "/sys/fs/cgroup") -> bool:
    """Whether a block I/O weight can be set here (bfq or cfq on v1, io.weight on v2);
    dockerd discards a weight with a warning where it cannot."""
    if is_v2(root):
        return "io" in _read(os.path.join(root, "cgroup.controllers")).split()
    return any(os.path.exists(os.path.join(root, "blkio", f))
               for f in ("blkio.weight", "blkio.bfq.weight"))


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), the formula runc and crun use."""
    return 1 + ((shares - 2) * 9999) // 262142


def is_v2(root: str = "/sys/fs/cgroup") -> bool:
    """A unified hierarchy has cgroup.controllers at its root; v1 has controller dirs."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def prime_moves(root: str = "/sys/fs/cgroup") -> None:
    """Move the caller into the cgroup it is already in, to make the next real move cheap.

    Moving a process into a cgroup takes the kernel's cgroup migration lock, and
    the first taker after a quiet spell waits out an RCU grace period (5-15 ms
    here) while later ones, for about another grace period, do not. This no-op
    move pays that wait now, on a worker thread, while the engine prepares a
    container; the container's own move a few ms later is then ~0.1 ms. Only
    time is at stake, so any error is ignored.
    """
    try:
        if is_v2(root):
            path = _read("/proc/self/cgroup").rpartition(":")[2]
            procs = os.path.join(root, path.lstrip("/"), "cgroup.procs")
        else:
            entries = {c: path for _, controllers, path in
                       (line.split(":", 2) for line in _read("/proc/self/cgroup").splitlines())
                       for c in controllers.split(",")}
            controller = next(c for c in V1_CONTROLLERS if c in entries)
            procs = os.path.join(root, controller, entries[controller].lstrip("/"), "cgroup.procs")
        with builtins.open(procs, "w") as f:
            f.write(str(os.getpid()))
    except (OSError, ValueError, StopIteration):
        pass


def open(cgroups_path: str, root: str = "/sys/fs/cgroup") -> V1Cgroup | V2Cgroup:  # noqa: A001
    """The cgroup at ``cgroups_path`` (``/{parent}/{id}``, from the hierarchy root)."""
    return (V2Cgroup if is_v2(root) else V1Cgroup)(cgroups_path, root)


def remove_if_empty(cgroups_path: str, root: str = "/sys/fs/cgroup") -> None:
    """Remove a cgroup (the daemon's parent, at shutdown) unless something still uses it,
    from every hierarchy: runc also makes it in name=systemd and the unified one."""
    rel = cgroups_path.strip("/")
    hierarchies = [os.path.join(root, h) for h in os.listdir(root)] + [root]
    for d in (os.path.join(h, rel) for h in hierarchies):
        if not os.path.isdir(d):
            continue
        try:
            _rmdir(d)
        except OSError as e:  # running containers live below it: they keep it
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise
