"""ImageService through its public coroutines, on a store in a temp dir (no root needed)."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from pathlib import Path
from typing import Any, Callable, Coroutine

import pytest

from unit.image.image_tars import make_tar
from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine.images import ContainerUse, ImageService
from wharf.errors import Conflict, InvalidParameter, NotFound


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def svc(tmp_path: Path) -> ImageService:
    return ImageService(DaemonConfig(data_root=str(tmp_path)), EventBus())


def import_(svc: ImageService, repo: str = "busybox", content: str = "x", **kw: Any) -> str:
    tar = make_tar(("dir", "bin", ""), ("file", "bin/tool", content))
    return run(svc.import_tar(io.BytesIO(tar), repo=repo, **kw))


def test_import_makes_a_tagged_image_with_the_changes(svc: ImageService) -> None:
    image_id = import_(svc, changes=['CMD ["sh"]', "ENV PATH=/bin"], message="hello")
    record = run(svc.get("busybox"))
    assert record.id == image_id
    assert record.repo_tags == ["busybox:latest"]
    assert record.container_config["Cmd"] == ["sh"]
    assert record.container_config["Env"] == ["PATH=/bin"]
    assert record.config["comment"] == "hello" and record.size == 1
    assert run(svc.get(image_id[7:19])).id == image_id  # short ID
    assert run(svc.get("docker.io/library/busybox:latest")).id == image_id
    inspect = run(svc.inspect("busybox"))
    assert inspect["Config"]["Cmd"] == ["sh"] and inspect["RootFS"]["Layers"] == record.diff_ids


def test_unknown_image_says_which(svc: ImageService) -> None:
    with pytest.raises(NotFound, match="^No such image: nothing:latest$"):
        run(svc.get("nothing"))


def test_bad_changes_fail_before_reading(svc: ImageService) -> None:
    class Unreadable(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise AssertionError("read")
    with pytest.raises(InvalidParameter, match="not a valid change command"):
        run(svc.import_tar(Unreadable(), repo="x", changes=["RUN true"]))  # type: ignore[arg-type]


def test_list_shows_tags_newest_first_and_filters(svc: ImageService) -> None:
    old = import_(svc, "old", "1")
    new = import_(svc, "new", "2", changes=["LABEL team=a"])
    listed = run(svc.list())
    assert [i["Id"] for i in listed] == [new, old] or listed[0]["Created"] == listed[1]["Created"]
    assert {i["RepoTags"][0] for i in listed} == {"old:latest", "new:latest"}
    assert [i["Id"] for i in run(svc.list(filters={"label": ["team=a"]}))] == [new]
    assert [i["Id"] for i in run(svc.list(filters={"reference": ["ol*"]}))] == [old]
    with pytest.raises(InvalidParameter):
        run(svc.list(filters={"bogus": ["1"]}))


def test_tag_and_untag_keeps_the_image_until_last_reference(svc: ImageService) -> None:
    image_id = import_(svc)
    run(svc.tag("busybox", "localhost:5000/me/bb", "v1"))
    assert run(svc.get("localhost:5000/me/bb:v1")).id == image_id
    assert run(svc.delete("busybox")) == [{"Untagged": "busybox:latest"}]
    records = run(svc.delete("localhost:5000/me/bb:v1"))
    assert records[0] == {"Untagged": "localhost:5000/me/bb:v1"}
    assert records[1] == {"Deleted": image_id}
    assert len(records) == 3  # and its one layer
    assert run(svc.list(all=True)) == []
    assert os.listdir(svc.store.content.blobs_dir) == []


def test_delete_by_id_with_two_tags_must_be_forced(svc: ImageService) -> None:
    image_id = import_(svc)
    run(svc.tag(image_id, "other"))
    with pytest.raises(Conflict, match="image is referenced in multiple repositories"):
        run(svc.delete(image_id[7:19]))
    assert [r.get("Untagged") for r in run(svc.delete(image_id[7:19], force=True))][:2] == [
        "busybox:latest", "other:latest"]


def using(cid: str, running: bool) -> Callable[[str], list[ContainerUse]]:
    return lambda image_id: [ContainerUse(cid, running)]


def test_image_used_by_a_container(svc: ImageService) -> None:
    image_id = import_(svc)
    cid = "c" * 64
    with pytest.raises(Conflict) as err:
        run(svc.delete("busybox", containers_using=using(cid, False)))
    assert err.value.message == (f'conflict: unable to remove repository reference "busybox" (must force) - '
                                 f"container {cid[:12]} is using its referenced image {image_id[7:19]}")
    with pytest.raises(Conflict, match="cannot be forced.*running container"):
        run(svc.delete(image_id, force=True, containers_using=using(cid, True)))
    # forced by name while running: untagged, the image stays for its container
    assert run(svc.delete("busybox", force=True, containers_using=using(cid, True))) == [
        {"Untagged": "busybox:latest"}]
    assert run(svc.get(image_id)).repo_tags == []
    assert run(svc.list())[0]["RepoTags"] == ["<none>:<none>"]


def test_events_are_published(svc: ImageService) -> None:
    async def scenario() -> list[str]:
        stream = svc.events.subscribe(since=0)
        image_id = await svc.import_tar(io.BytesIO(make_tar(("file", "f", "x"))), repo="ev")
        await svc.delete(image_id, force=True)
        return [e["Action"] async for e in _take(stream, 4)]
    assert run(scenario()) == ["import", "tag", "untag", "delete"]


async def _take(stream: Any, n: int) -> Any:
    for _ in range(n):
        yield await stream.__anext__()


def test_a_slow_import_blocks_no_other_image_call(svc: ImageService) -> None:
    gate = threading.Event()

    class Slow(io.RawIOBase):
        data = io.BytesIO(make_tar(("file", "f", "x")))

        def read(self, n: int = -1) -> bytes:
            gate.wait(5)
            return self.data.read(n)

    async def scenario() -> tuple[list[Any], list[str]]:
        task = asyncio.create_task(svc.import_tar(Slow(), repo="slow"))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        listed = await asyncio.wait_for(svc.list(), 2)
        gate.set()
        await task
        return listed, (await svc.get("slow")).repo_tags
    assert run(scenario()) == ([], ["slow:latest"])
