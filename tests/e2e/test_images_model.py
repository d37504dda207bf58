"""Docker's image model through the CLI: shared layers, whiteouts and opaque dirs in a
running container, commit/diff/export/history/tag/prune/system df, save/load, and
``kill -9`` of wharfd in the middle of a load."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import threading
from pathlib import Path

import pytest

from support.commands import ok
from unit.image.image_tars import make_tar


@pytest.fixture(scope="module")
def d(make_wharfd):
    return make_wharfd()


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def stacked_image(d, tmp_path: Path, name: str, *layers: bytes) -> None:
    """busybox with ``layers`` on top, made by editing a saved archive and loading it."""
    ok(d.wharf("save", "-o", str(tmp_path / "bb.tar"), "busybox"))
    files = members(tmp_path / "bb.tar")
    entry = json.loads(files["manifest.json"])[0]
    config = json.loads(files[entry["Config"]])
    out = {path: files[path] for path in entry["Layers"]}
    for i, layer in enumerate(layers):
        config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(layer).hexdigest())
        config["history"].append({"created": config["created"], "created_by": f"layer {i}"})
        out[f"extra{i}.tar"] = layer
    out["config.json"] = json.dumps(config).encode()
    out["manifest.json"] = json.dumps([{"Config": "config.json", "RepoTags": [name],
                                        "Layers": entry["Layers"] + [f"extra{i}.tar" for i in range(len(layers))]}]).encode()
    with tarfile.open(tmp_path / f"{name.replace(':', '_')}.tar", "w") as tar:
        for path, data in out.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert ok(d.wharf("load", "-i", str(tmp_path / f"{name.replace(':', '_')}.tar"))) == f"Loaded image: {name}\n"


def test_deleted_files_and_opaque_dirs_stay_hidden_and_commit_keeps_the_tree(d, tmp_path: Path) -> None:
    lower = make_tar(("dir", "data", ""), ("file", "data/keep", "k"), ("file", "data/gone", "g"),
                     ("dir", "opq", ""), ("file", "opq/old", "o"))
    upper = make_tar(("file", "data/.wh.gone", ""), ("dir", "opq", ""), ("file", "opq/.wh..wh..opq", ""),
                     ("file", "opq/new", "n"))
    stacked_image(d, tmp_path, "layered:1", lower, upper)
    assert ok(d.wharf("run", "--rm", "layered:1", "ls", "/data", "/opq")).split() == ["/data:", "keep", "/opq:", "new"]

    script = ("rm /data/keep; echo added > /data/added; rm -rf /opq; mkdir /opq; echo fresh > /opq/fresh; "
              "ln /data/added /data/hard; find /data /opq | sort; cat /data/hard")
    cid = ok(d.wharf("run", "--name", "changer", "layered:1", "sh", "-c", script))
    tree = cid.splitlines()
    assert tree == ["/data", "/data/added", "/data/hard", "/opq", "/opq/fresh", "added"]
    assert ok(d.wharf("diff", "changer")).splitlines() == [
        "C /data", "A /data/added", "A /data/hard", "D /data/keep", "D /opq", "A /opq/fresh"]

    image_id = ok(d.wharf("commit", "-m", "snap", "-a", "me", "-c", "ENV FROM_COMMIT=1", "changer",
                          "committed:1")).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    again = ok(d.wharf("run", "--rm", "committed:1", "sh", "-c",
                       "find /data /opq | sort; cat /data/hard; echo $FROM_COMMIT"))
    assert again.splitlines() == tree + ["1"]
    inode = ok(d.wharf("run", "--rm", "committed:1", "stat", "-c", "%h", "/data/hard")).strip()
    assert inode == "2"  # the hard link survived the commit

    history = ok(d.wharf("history", "committed:1")).splitlines()
    assert re.split(r"\s{2,}", history[0]) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert history[1].startswith(image_id[7:19]) and history[1].rstrip().endswith("snap")
    assert "   sh -c rm /data/keep; echo added > /data/adde…   " in history[1]
    assert ok(d.wharf("history", "-q", "--no-trunc", "committed:1")).splitlines()[0] == image_id
    assert len(ok(d.wharf("history", "-q", "committed:1")).splitlines()) == 4
    assert json.loads(ok(d.wharf("image", "inspect", "committed:1")))[0]["Author"] == "me"

    ok(d.wharf("export", "-o", str(tmp_path / "fs.tar"), "changer"))
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
    assert {"data/added", "data/hard", "opq/fresh", "bin/busybox"} <= names
    assert not names & {"data/keep", "data/gone", "opq/old", "opq/new"}
    ok(d.wharf("rm", "changer"))
    ok(d.wharf("rmi", "committed:1", "layered:1"))


def test_two_images_share_base_layers_on_disk_and_rmi_keeps_the_other(d) -> None:
    for name in ("one", "two"):
        ok(d.wharf("run", "--name", f"mk-{name}", "busybox", "sh", "-c", f"echo {name} > /{name}"))
        ok(d.wharf("commit", f"mk-{name}", f"shared:{name}"))
        ok(d.wharf("rm", f"mk-{name}"))
    one, two = (json.loads(ok(d.wharf("image", "inspect", f"shared:{n}")))[0]["GraphDriver"]["Data"]
                for n in ("one", "two"))
    assert one["LowerDir"] == two["LowerDir"] and one["UpperDir"] != two["UpperDir"]
    on_disk = os.stat(os.path.join(one["LowerDir"], "bin/busybox")).st_ino
    seen = {ok(d.wharf("run", "--rm", f"shared:{n}", "stat", "-c", "%i", "/bin/busybox")).strip()
            for n in ("one", "two")}
    assert seen == {str(on_disk)}  # both containers read the one unpacked copy
    layer_dirs = [n for n in os.listdir(d.data_root / "image/layers") if len(n) == 64]
    assert len(layer_dirs) == 3  # busybox's layer once, one layer per commit

    out = ok(d.wharf("rmi", "shared:one")).splitlines()
    assert out[0] == "Untagged: shared:one" and len(out) == 3  # the image and its own layer only
    assert ok(d.wharf("run", "--rm", "shared:two", "cat", "/two")) == "two\n"
    assert os.stat(os.path.join(two["LowerDir"], "bin/busybox")).st_ino == on_disk
    ok(d.wharf("rmi", "shared:two"))


def test_tag_prune_and_system_df(d) -> None:
    ok(d.wharf("tag", "busybox", "localhost:5000/team/bb:v1"))
    assert "localhost:5000/team/bb" in ok(d.wharf("images"))
    ok(d.wharf("run", "--name", "dangler", "busybox", "touch", "/x"))
    ok(d.wharf("commit", "dangler"))  # untagged: dangling
    ok(d.wharf("rm", "dangler"))
    df = ok(d.wharf("system", "df")).splitlines()
    assert re.split(r"\s{2,}", df[0]) == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].startswith("Images") and df[2].startswith("Containers")
    assert ok(d.wharf("image", "prune", input="n\n")).endswith("[y/N] ")  # declined: nothing happens
    out = ok(d.wharf("image", "prune", "-f"))
    assert out.startswith("Deleted Images:\ndeleted: sha256:") and "Total reclaimed space:" in out
    assert ok(d.wharf("image", "prune", "-f")) == "Total reclaimed space: 0B\n"
    assert ok(d.wharf("rmi", "localhost:5000/team/bb:v1")) == "Untagged: localhost:5000/team/bb:v1\n"
    assert ok(d.wharf("images", "-q", "busybox"))  # the other name keeps the image


def test_import_changes_message_and_urls(d, tmp_path: Path) -> None:
    (tmp_path / "root.tar").write_bytes(make_tar(("dir", "etc", ""), ("file", "etc/motd", "hi")))
    image_id = ok(d.wharf("import", "-c", "ENV A=1", "-m", "from a file", str(tmp_path / "root.tar"), "imp:1")).strip()
    info = json.loads(ok(d.wharf("image", "inspect", "imp:1")))[0]
    assert info["Id"] == image_id and info["Config"]["Env"] == ["A=1"] and info["Comment"] == "from a file"
    r = d.wharf("import", "http://example.invalid/rootfs.tar", "url:1")
    assert r.returncode == 1 and "importing from a URL is not supported" in r.stderr
    ok(d.wharf("rmi", "imp:1"))


def test_kill_9_during_load_leaves_a_readable_store(make_wharfd, tmp_path: Path) -> None:
    d = make_wharfd()
    big = make_tar(("file", "big", os.urandom(64 << 20)))
    stacked_image(d, tmp_path, "big:1", big)
    ok(d.wharf("save", "-o", str(tmp_path / "big.tar"), "big:1"))
    ok(d.wharf("rmi", "big:1"))
    loader = threading.Thread(target=d.wharf, args=("load", "-i", str(tmp_path / "big.tar")))
    loader.start()
    ingest = d.data_root / "image/content/ingest"
    for _ in range(400):  # wait until the upload is under way
        if any(ingest.iterdir()):
            break
        threading.Event().wait(0.01)
    d.restart(kill=True)
    loader.join()
    assert not any(ingest.iterdir()) and not any((d.data_root / "image/layers/tmp").iterdir())
    names = ok(d.wharf("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert "busybox:latest" in names
    for image in ok(d.wharf("images", "-q")).split():
        ok(d.wharf("image", "inspect", image))
    assert ok(d.wharf("run", "--rm", "busybox", "echo", "alive")) == "alive\n"
