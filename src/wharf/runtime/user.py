"""Resolve ``--user`` against the image's /etc/passwd and /etc/group.

Docker's rules (moby/sys/user ``GetExecUser``): ``uid``, ``uid:gid``,
``name`` or ``name:group``; a numeric id that is not in the file is used as
is, a name that is not there is an error; without an explicit group the
user's primary group comes from passwd and the supplementary groups are
every group in /etc/group that lists the user by name. As under Docker 20.10,
the primary group is also the first supplementary one (``id`` in a root
container says ``groups=0(root),...``). ``HOME`` comes from the passwd entry
of the uid, ``/`` without one, as runc sets it. The files are read
through ``secure_join``: a rootfs symlink cannot make the host read its own.
"""

from __future__ import annotations

from wharf.errors import InvalidParameter
from wharf.linux.paths import secure_join


def _entries(rootfs: str, path: str) -> list[list[str]]:
    """Colon-separated records of a rootfs file; none when it is missing."""
    try:
        with open(secure_join(rootfs, path), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def _find(records: list[list[str]], key: str, id_field: int) -> list[str] | None:
    """The record whose name, or (for a number) whose id, is ``key``."""
    for rec in records:
        if len(rec) > id_field and (rec[0] == key or rec[id_field] == key):
            return rec
    return None


def parse_user(user: str, rootfs: str) -> tuple[int, int, list[int]]:
    """(uid, gid, supplementary gids, the gid first) for a ``--user`` value inside ``rootfs``."""
    name, _, group = (user or "").partition(":")
    uid, gid, username = 0, 0, ""
    passwd = _entries(rootfs, "/etc/passwd")
    if name:
        rec = _find(passwd, name, 2)
        if rec is not None:
            username, uid, gid = rec[0], int(rec[2]), int(rec[3])
        elif name.isdigit():
            uid = int(name)
        else:
            raise InvalidParameter(f"unable to find user {name}: no matching entries in passwd file")
    else:
        rec = _find(passwd, "0", 2)
        username = rec[0] if rec else ""
    groups = _entries(rootfs, "/etc/group")
    if group:
        rec = _find(groups, group, 2)
        if rec is not None:
            return uid, int(rec[2]), [int(rec[2])]
        if group.isdigit():
            return uid, int(group), [int(group)]
        raise InvalidParameter(f"unable to find group {group}: no matching entries in group file")
    sgids = [int(g[2]) for g in groups
             if len(g) > 3 and username and username in g[3].split(",")]
    return uid, gid, list(dict.fromkeys([gid, *sgids]))


def with_home(env: list[str], uid: int, rootfs: str) -> list[str]:
    """``env`` plus ``HOME`` (last, where runc's setenv puts it) unless it has one."""
    if any(e.startswith("HOME=") for e in env):
        return env
    home = next((r[5] for r in _entries(rootfs, "/etc/passwd")
                 if len(r) > 5 and r[2] == str(uid)), "/")
    return [*env, f"HOME={home}"]
