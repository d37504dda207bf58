"""What ``RUN --mount`` mounts: cache directories, secrets, binds, tmpfs, ssh agents.

Each mount becomes a ``HostConfig.Mounts`` entry of the step's container
(the same bind/tmpfs machinery as ``run --mount``), so nothing mounted is in
the container's writable layer and none of it is committed:

* ``cache``: a directory under ``{data_root}/builder/mounts/<sha256 of id>/data``
  that outlives the build (``builder prune`` removes it). ``sharing=shared``
  lets steps use it at once, ``locked`` makes them take turns, ``private``
  gives a step that finds it in use a fresh directory of its own, discarded
  after the step (BuildKit keeps such instances; wharf does not).
* ``secret``: the value, held in memory for the build, written for the one
  step into a private tmpfs (never on disk) and bound read-only; a missing
  secret is skipped unless ``required``.
* ``bind``: a path of the context, of a stage or of an image, read-only by
  default; with ``rw`` the step writes into a throwaway overlay (context)
  or snapshot (stage, image), so its writes are discarded.
* ``tmpfs``: a tmpfs of ``size``; ``ssh``: an agent socket the client
  forwarded, bound at ``/run/buildkit/ssh_agent.N`` with ``SSH_AUTH_SOCK``.

The runtime makes a missing mount point in the container's rootfs; those
stubs are removed from the layer before it is committed (``remove_stubs``),
as BuildKit does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from wharf.build.runmount import Mount
from wharf.errors import InvalidParameter, NotFound
from wharf.fsutil import remove_tree
from wharf.image.archive import is_opaque
from wharf.image.snapshot import Diff
from wharf.linux import syscalls
from wharf.linux.paths import secure_join

SourceRoot = Callable[[str], contextlib.AbstractAsyncContextManager[str]]


class CacheMounts:
    """The cache mounts' directories, shared by every build of the daemon."""

    def __init__(self, root: str, scratch: str) -> None:
        self.root, self.scratch = root, scratch
        os.makedirs(root, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def _dir(self, cache_id: str) -> str:
        return os.path.join(self.root, hashlib.sha256(cache_id.encode()).hexdigest())

    @contextlib.asynccontextmanager
    async def use(self, m: Mount, seed: str | None) -> AsyncIterator[str]:
        """The cache's directory for one step; made (from ``seed``, else empty) on first use."""
        cache_id = m.cache_id()
        shared = self._dir(cache_id)
        lock = self._locks.setdefault(shared, asyncio.Lock())
        private = m.sharing == "private" and self._users.get(shared, 0) > 0
        async with lock if m.sharing == "locked" else contextlib.nullcontext():
            self._users[shared] = self._users.get(shared, 0) + 1
            base = shared
            try:
                if private:
                    base = await asyncio.to_thread(tempfile.mkdtemp, dir=self.scratch)
                data = os.path.join(base, "data")
                if not os.path.isdir(data):
                    await asyncio.to_thread(_make_cache, base, data, cache_id, m, seed)
                yield data
            finally:
                self._users[shared] -= 1
                if private:
                    await asyncio.to_thread(shutil.rmtree, base, True)

    def prune(self) -> tuple[list[str], int]:
        """Remove every cache not in use: (their ids, bytes freed)."""
        ids, freed = [], 0
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            if self._users.get(path):
                continue
            try:
                with open(os.path.join(path, "id")) as f:
                    ids.append(f.read())
            except OSError:
                pass
            freed += _size(path)
            remove_tree(path, self.scratch)
        return ids, freed


def _make_cache(base: str, data: str, cache_id: str, m: Mount, seed: str | None) -> None:
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=base)
    if seed is not None and os.path.isdir(seed):
        shutil.copytree(seed, tmp, symlinks=True, dirs_exist_ok=True)
    os.chmod(tmp, m.mode if m.mode is not None else 0o755)
    os.chown(tmp, m.uid or 0, m.gid or 0)
    with open(os.path.join(base, "id"), "w") as f:
        f.write(cache_id)
    os.rename(tmp, data)


def _size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


@dataclass
class BuildSession:
    """What a client lends one build: secret values (in memory only) and ssh agent sockets."""

    secrets: dict[str, bytes] = field(default_factory=dict)
    ssh: dict[str, str] = field(default_factory=dict)  # id -> agent socket path on this host
    #: Entitlements the client asked for (``--allow``); this daemon grants network.host only.
    allow: list[str] = field(default_factory=list)
    #: ``--build-context``: name -> ``docker-image://REF``, or ``local`` (a tree sent in the context tar)
    contexts: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"BuildSession(secrets={sorted(self.secrets)}, ssh={sorted(self.ssh)})"


@dataclass
class StepMounts:
    mounts: list[dict[str, Any]] = field(default_factory=list)  # HostConfig.Mounts
    env: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def mounted(mounts: list[Mount], workdir: str, scratch: str, caches: CacheMounts,
                  session: BuildSession, source_root: SourceRoot) -> AsyncIterator[StepMounts]:
    """The step's mounts, made for the time of the step and undone after it."""
    out = StepMounts()
    first_ssh = next((i for i, m in enumerate(mounts) if m.type == "ssh"), -1)  # the one SSH_AUTH_SOCK names
    async with contextlib.AsyncExitStack() as stack:
        for i, m in enumerate(mounts):
            target = _target(m, i, workdir)
            entry: dict[str, Any] = {"Type": "bind", "Target": target, "ReadOnly": m.readonly}
            if m.type == "tmpfs":
                entry = {"Type": "tmpfs", "Target": target, "TmpfsOptions": {"SizeBytes": m.size}}
            elif m.type == "cache":
                seed = None
                if m.from_:  # the cache starts as a copy of that path of the stage or image
                    root = await stack.enter_async_context(source_root(m.from_))
                    seed = secure_join(root, m.source or "/")
                data = await stack.enter_async_context(caches.use(m, seed))
                if m.source and not m.from_:  # a directory inside the cache
                    data = secure_join(data, m.source)
                    await asyncio.to_thread(os.makedirs, data, 0o755, True)
                entry["Source"] = data
            elif m.type == "secret":
                sid = m.secret_id()  # id=, else the target's base name, as the target was derived
                if sid not in session.secrets:
                    if m.required:
                        raise NotFound(f"secret {sid}: not found")
                    continue
                secrets_dir = await stack.enter_async_context(_private_tmpfs(scratch))
                entry["Source"] = await asyncio.to_thread(_write_secret, secrets_dir, m, session.secrets[sid])
                entry["ReadOnly"] = True
            elif m.type == "ssh":
                agent = session.ssh.get(m.id or "default")
                if agent is None:
                    if m.required:
                        raise InvalidParameter(f'no SSH key "{m.id or "default"}" forwarded from the client')
                    continue
                if not stat.S_ISSOCK(os.stat(agent).st_mode):
                    raise InvalidParameter(f"ssh agent {m.id or 'default'}: {agent} is not a socket")
                entry["Source"] = agent
                if i == first_ssh:
                    out.env.append(f"SSH_AUTH_SOCK={target}")
            else:  # bind
                root = await stack.enter_async_context(source_root(m.from_))
                source = secure_join(root, m.source or "/")
                if not os.path.lexists(source):
                    raise NotFound(f"failed to compute cache key: \"/{(m.source or '').lstrip('/')}\": not found")
                if not m.readonly:  # the step's writes must not reach the context or a later step
                    source = await stack.enter_async_context(_throwaway(source, scratch))
                entry["Source"] = source
            out.mounts.append(entry)
            out.targets.append(target)
        yield out


def _target(m: Mount, index: int, workdir: str) -> str:
    if m.target or m.type not in ("secret", "ssh"):
        return m.resolved_target(workdir)
    return m.secret_target() if m.type == "secret" else f"/run/buildkit/ssh_agent.{index}"


@contextlib.asynccontextmanager
async def _private_tmpfs(scratch: str) -> AsyncIterator[str]:
    """A tmpfs only root can enter: secrets are written there, never to a disk."""
    path = await asyncio.to_thread(tempfile.mkdtemp, dir=scratch)
    await asyncio.to_thread(syscalls.mount, "tmpfs", path, "tmpfs",
                            syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC, "mode=0700,size=16m")
    try:
        yield path
    finally:
        await asyncio.to_thread(syscalls.umount2, path, syscalls.MNT_DETACH)
        await asyncio.to_thread(os.rmdir, path)


def _write_secret(directory: str, m: Mount, value: bytes) -> str:
    fd, path = tempfile.mkstemp(dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    os.chown(path, m.uid or 0, m.gid or 0)
    os.chmod(path, m.mode if m.mode is not None else 0o400)
    return path


@contextlib.asynccontextmanager
async def _throwaway(source: str, scratch: str) -> AsyncIterator[str]:
    """``source`` seen writable, the writes kept aside and thrown away: a directory
    through an overlay, a file as a copy."""
    base = await asyncio.to_thread(tempfile.mkdtemp, dir=scratch)
    if not os.path.isdir(source):
        copy = os.path.join(base, "file")
        await asyncio.to_thread(shutil.copy2, source, copy)
        try:
            yield copy
        finally:
            await asyncio.to_thread(shutil.rmtree, base, True)
        return
    upper, work, merged = (os.path.join(base, n) for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        os.mkdir(d)
    await asyncio.to_thread(syscalls.mount, "overlay", merged, "overlay", 0,
                            f"lowerdir={source},upperdir={upper},workdir={work}")
    try:
        yield merged
    finally:
        await asyncio.to_thread(syscalls.umount2, merged, syscalls.MNT_DETACH)
        await asyncio.to_thread(shutil.rmtree, base, True)


def remove_stubs(diff: Diff, targets: list[str]) -> None:
    """Drop the mount points the runtime made (and their parents it made) from a layer.

    At a mount target, and in the directories down to it, the step wrote
    nothing of its own (the mount covered it): what is left there empty is
    the runtime's stub, or a copy-up that the lower layers show anyway. What
    the layers below have (``diff.needed``: a driver that keeps whole copies)
    stays, or the layer would record it deleted.
    """
    for target in sorted(targets, key=len, reverse=True):
        path = target
        while path not in ("", "/") and not diff.needed(path):
            host = os.path.join(diff.top, path.lstrip("/"))
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                break
            if stat.S_ISDIR(st.st_mode):
                if os.listdir(host) or is_opaque(host):
                    break
                os.rmdir(host)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0 and path == target:
                os.unlink(host)
            else:
                break
            path = os.path.dirname(path)
