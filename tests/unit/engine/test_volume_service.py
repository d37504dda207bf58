"""VolumeService rules without a daemon: in-use from container records, list filters,
prune (1.41's all-unused rule, label and label! filters), rm -f, anonymous volumes."""

from __future__ import annotations

import asyncio

import pytest

from wharf.config import DaemonConfig
from wharf.engine.container import Container, new_state
from wharf.engine.events import EventBus
from wharf.engine.volumes import ANONYMOUS_LABEL, VolumeService
from wharf.errors import Conflict, InvalidParameter, NotFound


class World:
    def __init__(self, tmp_path) -> None:
        self.containers: list[Container] = []
        self.service = VolumeService(DaemonConfig(data_root=str(tmp_path)), EventBus(),
                                     lambda: self.containers)

    def container(self, cid: str, *binds: str, volumes: tuple[str, ...] = ()) -> Container:
        points = asyncio.run(self.service.resolve({"Binds": list(binds)}, list(volumes), []))
        c = Container({"Id": cid, "Name": "/" + cid, "State": new_state(),
                       "Wharf": {"MountPoints": points}}, "/nonexistent")
        self.containers.append(c)
        return c

    def names(self, **filters: list[str]) -> list[str]:
        return [v["Name"] for v in asyncio.run(self.service.list(filters))["Volumes"]]


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def test_first_use_creates_and_in_use_blocks_removal(world):
    c = world.container("c1" * 32, "data:/d", volumes=("/anon",))
    [anon] = [n for n in world.names() if n != "data"]
    assert len(anon) == 64
    assert asyncio.run(world.service.inspect(anon))["Labels"] == {ANONYMOUS_LABEL: ""}
    with pytest.raises(Conflict, match=rf"remove data: volume is in use - \[{c.id}\]"):
        asyncio.run(world.service.remove("data", force=True))
    asyncio.run(world.service.remove_anonymous(c.private["MountPoints"]))
    assert len(world.names()) == 2  # still in use: rm -v leaves it alone
    world.containers.clear()  # the container is gone: rm -v takes only its anonymous volume
    asyncio.run(world.service.remove_anonymous(c.private["MountPoints"]))
    assert world.names() == ["data"]
    asyncio.run(world.service.remove("data"))
    asyncio.run(world.service.remove("data", force=True))  # -f forgives a missing volume
    with pytest.raises(NotFound, match="get data: no such volume"):
        asyncio.run(world.service.remove("data"))


def test_list_filters(world):
    asyncio.run(world.service.create("idle", labels={"tier": "db"}))
    world.container("c2" * 32, "used:/u")
    assert world.names(dangling=["true"]) == ["idle"]
    assert world.names(dangling=["0"]) == ["used"]
    assert world.names(label=["tier=db"]) == ["idle"]
    assert world.names(name=["us"]) == ["used"]
    assert world.names(driver=["local"]) == ["idle", "used"]
    with pytest.raises(InvalidParameter, match="invalid filter 'dangling=maybe'"):
        world.names(dangling=["maybe"])


def test_prune_takes_every_unused_volume_unless_told_otherwise(world):
    for name, labels in (("aa", {"keep": "1"}), ("bb", {})):
        asyncio.run(world.service.create(name, labels=labels))
    world.container("c3" * 32, volumes=("/x",))
    [anon] = [n for n in world.names() if n not in ("aa", "bb")]
    world.containers.clear()  # its anonymous volume is now unused too
    report = asyncio.run(world.service.prune({"label!": ["keep"]}))
    assert sorted(report["VolumesDeleted"]) == sorted([anon, "bb"])
    assert world.names() == ["aa"]
    assert asyncio.run(world.service.prune({"all": ["false"]}))["VolumesDeleted"] is None
    assert asyncio.run(world.service.prune())["VolumesDeleted"] == ["aa"]


def test_unknown_driver_is_refused(world):
    with pytest.raises(NotFound, match='plugin "nfs" not found'):
        asyncio.run(world.service.create("x", driver="nfs"))
