"""save/load archives on a store in a temp dir: round trips, Docker 20.10 and OCI layouts,
and hostile archives refused with nothing registered and nothing written outside."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from unit.image.image_tars import make_tar
from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine.images import ImageService
from wharf.errors import InvalidParameter, NotFound
from wharf.image import manifest as mf
from wharf.image.archive import UnsafeArchive
from wharf.image.content import DigestMismatch


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def svc(tmp_path: Path) -> ImageService:
    return ImageService(DaemonConfig(data_root=str(tmp_path / "data")), EventBus())


def import_(svc: ImageService, repo: str, content: str) -> str:
    tar = make_tar(("dir", "bin", ""), ("file", "bin/tool", content))
    return run(svc.import_tar(io.BytesIO(tar), repo=repo, changes=['CMD ["tool"]']))


def save(svc: ImageService, *names: str) -> bytes:
    out = io.BytesIO()
    run(svc.save(list(names), out))
    return out.getvalue()


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def build(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def state(svc: ImageService) -> tuple[list[str], list[str], list[str]]:
    store = svc.store
    return sorted(store.ids()), sorted(store.layers.chains()), sorted(os.listdir(store.content.blobs_dir))


def test_save_writes_docker_and_oci_layouts_that_load_back_with_the_same_id(svc: ImageService) -> None:
    image_id = import_(svc, "app:1", "one")
    files = members(save(svc, "app:1"))
    manifest = json.loads(files["manifest.json"])
    assert manifest[0]["RepoTags"] == ["app:1"] and manifest[0]["Config"] == f"blobs/sha256/{image_id[7:]}"
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    entry = json.loads(files["index.json"])["manifests"][0]
    assert entry["annotations"][mf.IMAGE_NAME_ANNOTATION] == "docker.io/library/app:1"
    for name, data in files.items():  # every blob is named by its digest
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]

    archive = save(svc, "app:1")
    run(svc.delete("app:1"))
    loaded = run(svc.load(io.BytesIO(archive)))
    assert [(i.image_id, [r.familiar() for r in i.refs]) for i in loaded] == [(image_id, ["app:1"])]
    assert run(svc.get("app:1")).container_config["Cmd"] == ["tool"]


def test_save_of_a_bare_repository_takes_all_its_tags_and_an_id_none(svc: ImageService) -> None:
    first, second = import_(svc, "app:1", "one"), import_(svc, "app:2", "two")
    tags = json.loads(members(save(svc, "app"))["manifest.json"])
    assert sorted(t for e in tags for t in e["RepoTags"]) == ["app:1", "app:2"]
    by_id = json.loads(members(save(svc, first[7:19]))["manifest.json"])
    assert by_id == [{"Config": f"blobs/sha256/{first[7:]}", "RepoTags": None, "Layers": by_id[0]["Layers"]}]
    with pytest.raises(NotFound):
        save(svc, "nosuch:tag")
    assert second


def test_an_oci_layout_with_an_index_per_platform_loads_the_hosts(svc: ImageService) -> None:
    import_(svc, "app:1", "one")
    files = members(save(svc, "app:1"))
    index = json.loads(files.pop("index.json"))
    files.pop("manifest.json")
    native = index["manifests"][0]
    other = dict(native, platform={"os": "linux", "architecture": "s390x-nope"})
    nested = mf.encode({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [
        other, dict(native, platform={"os": "linux", "architecture": mf.host_arch()})]})
    files[f"blobs/sha256/{hashlib.sha256(nested).hexdigest()}"] = nested
    files["index.json"] = mf.encode(mf.index([mf.Descriptor(mf.OCI_INDEX, "sha256:" + hashlib.sha256(nested).hexdigest(),
                                                            len(nested), native["annotations"])]))
    run(svc.delete("app:1"))
    loaded = run(svc.load(io.BytesIO(build(files))))
    assert [r.familiar() for r in loaded[0].refs] == ["app:1"]


def test_docker_20_layout_with_layer_dirs_and_gzip_layers_loads(svc: ImageService) -> None:
    import gzip
    layer = make_tar(("dir", "etc", ""), ("file", "etc/motd", "hello"))
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{}]}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    files = {"abc/layer.tar": gzip.compress(layer), "abc/VERSION": b"1.0", f"{config_hex}.json": config,
             "manifest.json": json.dumps([{"Config": f"{config_hex}.json", "RepoTags": ["old:20"],
                                           "Layers": ["abc/layer.tar"]}]).encode()}
    loaded = run(svc.load(io.BytesIO(build(files))))
    assert loaded[0].image_id == "sha256:" + config_hex
    # the layer is kept once, unpacked; its uncompressed tar is rebuilt byte for byte for a later save
    assert not svc.store.content.exists(diff_id)
    with svc.store.layer_tar(diff_id).open() as f:
        assert f.read() == layer


def _hostile_cases(svc: ImageService) -> dict[str, tuple[bytes, type[Exception], str]]:
    import_(svc, "app:1", "one")
    good = members(save(svc, "app:1"))
    run(svc.delete("app:1"))
    layer_name = json.loads(good["manifest.json"])[0]["Layers"][0]

    def with_(**changes: bytes) -> dict[str, bytes]:
        return {**good, **{k.replace("__", "/"): v for k, v in changes.items()}}

    def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        return info

    def device(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        return info

    evil_layer = make_tar(("file", "../escape", "x"))
    evil_config = json.loads(good[json.loads(good["manifest.json"])[0]["Config"]])
    evil_config["rootfs"]["diff_ids"] = ["sha256:" + hashlib.sha256(evil_layer).hexdigest()]
    evil_config_bytes = json.dumps(evil_config).encode()
    evil_manifest = json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": ["l.tar"]}]).encode()
    tampered = dict(good)
    tampered[layer_name] = make_tar(("file", "bin/tool", "evil"))  # name and diff ID no longer match
    wrong_diff = {k: v for k, v in good.items() if not k.startswith("blobs/")}
    wrong_diff.update({"c.json": good[json.loads(good["manifest.json"])[0]["Config"]],
                       "l.tar": make_tar(("file", "bin/tool", "evil")), "manifest.json": json.dumps(
                           [{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": ["l.tar"]}]).encode()})
    return {
        "dotdot member": (build({**good, "../outside": b"x"}), UnsafeArchive, "path escapes the root"),
        "absolute member": (build({**good, "/tmp/outside": b"x"}), UnsafeArchive, "absolute path"),
        "symlink out": (build(good, [link("esc", "../../etc/passwd")]), UnsafeArchive, "leaves the archive"),
        "absolute symlink": (build(good, [link("esc", "/etc/passwd")]), UnsafeArchive, "leaves the archive"),
        "hard link out": (build(good, [link("esc", "../x", tarfile.LNKTYPE)]), UnsafeArchive, "escapes"),
        "device node": (build(good, [device("null")]), UnsafeArchive, "only files, directories and links"),
        "layer with ..": (build({"c.json": evil_config_bytes, "l.tar": evil_layer, "manifest.json": evil_manifest}),
                          UnsafeArchive, "path escapes the root"),
        "blob not matching its name": (build(tampered), DigestMismatch, "does not match its digest"),
        "layer not matching the config": (build(wrong_diff), DigestMismatch, "does not match the image config"),
        "no manifest": (build({"hello": b"x"}), InvalidParameter, "neither manifest.json nor index.json"),
        "missing layer": (build(with_(**{"manifest.json": json.dumps(
            [{"Config": json.loads(good["manifest.json"])[0]["Config"], "Layers": ["nope.tar"]}]).encode()})),
            InvalidParameter, '"nope.tar" is missing'),
        "garbage": (b"\x00garbage" * 100, InvalidParameter, "archive/tar"),
    }


@pytest.mark.parametrize("case", ["dotdot member", "absolute member", "symlink out", "absolute symlink",
                                  "hard link out", "device node", "layer with ..", "blob not matching its name",
                                  "layer not matching the config", "no manifest", "missing layer", "garbage"])
def test_hostile_archives_are_refused_and_leave_nothing(svc: ImageService, tmp_path: Path, case: str) -> None:
    archive, error, words = _hostile_cases(svc)[case]
    before = state(svc)
    with pytest.raises(error, match=words):
        run(svc.load(io.BytesIO(archive)))
    assert state(svc) == before  # no image, layer or blob registered
    assert os.listdir(svc.store.content.ingest_dir) == [] and os.listdir(svc.store.layers.tmp_dir) == []
    assert sorted(os.listdir(tmp_path)) == ["data"]  # nothing written beside the data root
    assert run(svc.list()) == []


def test_leftovers_of_a_crash_are_collected_at_the_next_start(svc: ImageService, tmp_path: Path) -> None:
    """As if wharfd died mid-load/commit/rmi: an orphan layer, an orphan blob, scratch."""
    keep = import_(svc, "app:1", "one")
    store = svc.store
    orphan_layer = store.register_layer(io.BytesIO(make_tar(("file", "orphan", "o"))))
    orphan_blob = store.content.put(b'{"half": "made"}')
    with open(os.path.join(store.content.ingest_dir, "partial"), "wb") as f:
        f.write(b"half a blob")
    os.mkdir(os.path.join(store.layers.tmp_dir, "half-unpacked"))
    restarted = ImageService(DaemonConfig(data_root=str(tmp_path / "data")), EventBus())
    assert restarted.store.ids() == [keep]
    assert not restarted.store.layers.exists(orphan_layer.chain_id)
    assert not restarted.store.content.exists(orphan_blob)
    assert os.listdir(restarted.store.content.ingest_dir) == os.listdir(restarted.store.layers.tmp_dir) == []
    assert run(restarted.get("app:1")).id == keep
