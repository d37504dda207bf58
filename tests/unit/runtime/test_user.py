"""--user resolution against a fake rootfs, with Docker's rules and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.errors import InvalidParameter
from wharf.runtime.spec import parse_user
from wharf.runtime.user import with_home


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "app:x:1000:1001::/home/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\napp:x:1001:\nstaff:x:50:app,other\nwheel:x:10:root\n")
    return tmp_path / "rootfs"


# What `id` shows under Docker 20.10 with the same files: the primary group is
# always a supplementary one; /etc/group memberships only without a group.
@pytest.mark.parametrize("user, expected", [
    ("", (0, 0, [0, 10])),
    ("app", (1000, 1001, [1001, 50])),
    ("1000", (1000, 1001, [1001, 50])),
    ("4242", (4242, 0, [0])),
    ("app:staff", (1000, 50, [50])),
    ("app:77", (1000, 77, [77])),
    ("4242:4343", (4242, 4343, [4343])),
])
def test_docker_rules(rootfs: Path, user: str, expected: tuple) -> None:
    assert parse_user(user, str(rootfs)) == expected


@pytest.mark.parametrize("uid, env, expected", [
    (0, ["PATH=/bin"], ["PATH=/bin", "HOME=/root"]),
    (1000, [], ["HOME=/home/app"]),
    (4242, [], ["HOME=/"]),
    (0, ["HOME=/x", "A=1"], ["HOME=/x", "A=1"]),
])
def test_home_from_passwd_unless_set(rootfs: Path, uid: int, env: list, expected: list) -> None:
    assert with_home(env, uid, str(rootfs)) == expected


def test_unknown_names(rootfs: Path) -> None:
    with pytest.raises(InvalidParameter, match="^unable to find user foo: no matching entries in passwd file$"):
        parse_user("foo", str(rootfs))
    with pytest.raises(InvalidParameter, match="^unable to find group bar: no matching entries in group file$"):
        parse_user("app:bar", str(rootfs))


def test_symlinked_passwd_stays_inside_the_rootfs(rootfs: Path, tmp_path: Path) -> None:
    (tmp_path / "host-passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    inner = rootfs / "etc" / "passwd"
    inner.unlink()
    inner.symlink_to("../../../" + "host-passwd")  # climbs to tmp_path on the host, not in the rootfs
    with pytest.raises(InvalidParameter):
        parse_user("evil", str(rootfs))
    (rootfs / "real").write_text("evil:x:7:7::/:/bin/sh\n")
    inner.unlink()
    inner.symlink_to("/real")  # absolute: the rootfs's /real
    assert parse_user("evil", str(rootfs))[:2] == (7, 7)
