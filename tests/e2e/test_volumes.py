"""Volumes and mounts through the wharf CLI against a live wharfd: every kind of mount is
written from one container and read from another container or from the host."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from support.commands import ok


def _name() -> str:
    return f"wharf-test-{secrets.token_hex(3)}"


@pytest.fixture
def cleanup(wharfd) -> Iterator[dict[str, list[str]]]:
    """Names to remove afterwards: containers, volumes, images, host dirs."""
    made: dict[str, list[str]] = {"containers": [], "volumes": [], "images": [], "dirs": []}
    yield made
    for c in made["containers"]:
        wharfd.wharf("rm", "-f", "-v", c)
    for v in made["volumes"]:
        wharfd.wharf("volume", "rm", "-f", v)
    for i in made["images"]:
        wharfd.wharf("rmi", "-f", i)
    for d in made["dirs"]:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def host_dir(cleanup) -> Path:
    path = Path("/tmp") / _name()
    path.mkdir()
    cleanup["dirs"].append(str(path))
    return path


def test_named_volume_outlives_its_writer_and_shows_on_the_host(wharfd, busybox, cleanup):
    vol = _name()
    cleanup["volumes"].append(vol)
    assert ok(wharfd.wharf("volume", "create", "--label", "team=a", vol)) == f"{vol}\n"
    ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/data", busybox, "sh", "-c",
                    "echo kept > /data/f"))
    assert ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/data:ro", busybox, "cat", "/data/f")) == "kept\n"
    [info] = json.loads(ok(wharfd.wharf("volume", "inspect", vol)))
    assert (info["Name"], info["Driver"], info["Labels"], info["Scope"]) == (vol, "local", {"team": "a"}, "local")
    assert Path(info["Mountpoint"], "f").read_text() == "kept\n"
    assert info["Mountpoint"] == f"{wharfd.data_root}/volumes/{vol}/_data"


def test_volume_created_on_first_use_is_filled_from_the_image_with_owners(wharfd, busybox, cleanup):
    maker, image, vol, empty = _name(), _name(), _name(), _name()
    cleanup["containers"].append(maker)
    cleanup["images"].append(image)
    cleanup["volumes"] += [vol, empty]
    ok(wharfd.wharf("run", "--name", maker, busybox, "sh", "-c",
                    "mkdir -p /app/conf && echo port=80 > /app/conf/site && chown -R 1000:1000 /app"
                    " && chown 33:34 /app/conf/site && chmod 750 /app && chmod 640 /app/conf/site"))
    ok(wharfd.wharf("commit", maker, image))
    out = ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/app", image, "sh", "-c",
                          "stat -c '%u:%g %a %n' /app /app/conf/site; cat /app/conf/site"))
    assert out == "1000:1000 750 /app\n33:34 640 /app/conf/site\nport=80\n"
    # the copy is the volume's own now: the image is untouched by writes to it
    ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/app", image, "sh", "-c", "echo port=81 > /app/conf/site"))
    assert ok(wharfd.wharf("run", "--rm", image, "cat", "/app/conf/site")) == "port=80\n"
    assert ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/app", image, "cat", "/app/conf/site")) == "port=81\n"
    # volume-nocopy: an empty volume stays empty
    out = ok(wharfd.wharf("run", "--rm", "--mount", f"source={empty},target=/app,volume-nocopy",
                          image, "ls", "-A", "/app"))
    assert out == ""


def test_anonymous_volumes_go_with_rm_v_and_rm_but_not_plain_rm(wharfd, busybox, cleanup):
    kept, removed = _name(), _name()
    cleanup["containers"] += [kept, removed]

    def anon_of(name: str) -> str:
        mounts = json.loads(ok(wharfd.wharf("inspect", "-f", "{{json .Mounts}}", name)))
        [m] = mounts
        assert (m["Type"], m["Destination"], len(m["Name"])) == ("volume", "/data", 64)
        return m["Name"]

    ok(wharfd.wharf("run", "--name", kept, "-v", "/data", busybox, "sh", "-c", "echo a > /data/f"))
    ok(wharfd.wharf("run", "--name", removed, "-v", "/data", busybox, "true"))
    vol_kept, vol_removed = anon_of(kept), anon_of(removed)
    cleanup["volumes"].append(vol_kept)
    ok(wharfd.wharf("rm", kept))
    ok(wharfd.wharf("rm", "-v", removed))
    names = ok(wharfd.wharf("volume", "ls", "-q")).split()
    assert vol_kept in names and vol_removed not in names
    # the anonymous volume left behind still holds the data, readable by name
    assert ok(wharfd.wharf("run", "--rm", "-v", f"{vol_kept}:/d", busybox, "cat", "/d/f")) == "a\n"
    # --rm takes its anonymous volumes along
    before = set(ok(wharfd.wharf("volume", "ls", "-q")).split())
    ok(wharfd.wharf("run", "--rm", "-v", "/scratch", busybox, "touch", "/scratch/x"))
    assert set(ok(wharfd.wharf("volume", "ls", "-q")).split()) == before


def test_image_volume_is_an_anonymous_volume_with_the_image_content(wharfd, busybox, cleanup):
    maker, image, user = _name(), _name(), _name()
    cleanup["containers"] += [maker, user]
    cleanup["images"].append(image)
    ok(wharfd.wharf("run", "--name", maker, busybox, "sh", "-c", "mkdir /db && echo seed > /db/s"))
    ok(wharfd.wharf("commit", "-c", "VOLUME /db", maker, image))
    ok(wharfd.wharf("run", "--name", user, image, "sh", "-c", "echo more >> /db/s"))
    [m] = json.loads(ok(wharfd.wharf("inspect", "-f", "{{json .Mounts}}", user)))
    assert (m["Type"], m["Destination"]) == ("volume", "/db")
    assert Path(m["Source"], "s").read_text() == "seed\nmore\n"
    ok(wharfd.wharf("rm", "-v", user))
    assert not Path(m["Source"]).exists()


def test_bind_mounts_read_write_read_only_and_created_source(wharfd, busybox, host_dir):
    ok(wharfd.wharf("run", "--rm", "-v", f"{host_dir}:/h", busybox, "sh", "-c", "echo from-ctr > /h/out"))
    assert (host_dir / "out").read_text() == "from-ctr\n"
    (host_dir / "in").write_text("from-host\n")
    r = wharfd.wharf("run", "--rm", "--mount", f"type=bind,source={host_dir},target=/h,readonly",
                     busybox, "sh", "-c", "cat /h/in; echo x > /h/in")
    assert r.stdout == "from-host\n" and "Read-only file system" in r.stderr
    assert (host_dir / "in").read_text() == "from-host\n"
    missing = host_dir / "made" / "by-v"
    ok(wharfd.wharf("run", "--rm", "-v", f"{missing}:/m", busybox, "touch", "/m/x"))
    assert (missing / "x").exists()


@pytest.mark.parametrize("flag,message", [
    (["--mount", "type=bind,source=/wharf-test-nonexistent,target=/x"],
     'invalid mount config for type "bind": bind source path does not exist: '
     "/wharf-test-nonexistent"),
    (["--mount", "type=bind,source=rel,target=/x"],
     "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be "
     "absolute"),
    (["--mount", "type=bind,source=/tmp"], 'invalid argument "type=bind,source=/tmp" for '
                                          '"--mount" flag: target is required'),
    (["--mount", "type=tmpfs,target=/x,bogus=1"], "unexpected key 'bogus' in 'bogus=1'"),
    (["-v", "/tmp:/x:nonsense"], "invalid mode: nonsense"),
    (["-v", "bad/name:/x"], "includes invalid characters for a local volume name"),
])
def test_bad_mount_specs_are_refused_with_dockers_words(wharfd, busybox, flag, message):
    r = wharfd.wharf("run", "--rm", *flag, busybox, "true")
    assert r.returncode == 125
    assert message in r.stderr


def test_tmpfs_size_is_enforced_and_the_daemon_lives_on(wharfd, busybox):
    r = wharfd.wharf("run", "--rm", "--tmpfs", "/t:size=1m", busybox, "sh", "-c",
                     "dd if=/dev/zero of=/t/big bs=64k count=64 2>&1; echo code=$?; df -k /t")
    assert "No space left on device" in r.stdout and "code=1" in r.stdout
    assert " 1024 " in r.stdout
    r = wharfd.wharf("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=512k,tmpfs-mode=1770",
                     busybox, "sh", "-c", "stat -c %a /t; dd if=/dev/zero of=/t/x bs=1k count=600 2>&1; echo $?")
    assert r.stdout.startswith("1770\n") and r.stdout.endswith("\n1\n")
    assert "No space left on device" in r.stdout
    assert ok(wharfd.wharf("run", "--rm", busybox, "echo", "alive")) == "alive\n"


def test_two_running_containers_see_each_others_writes(wharfd, busybox, cleanup):
    vol, a, b = _name(), _name(), _name()
    cleanup["containers"] += [a, b]
    cleanup["volumes"].append(vol)
    for name in (a, b):
        ok(wharfd.wharf("run", "-d", "--name", name, "-v", f"{vol}:/shared", busybox, "sleep", "60"))
    ok(wharfd.wharf("exec", a, "sh", "-c", "echo from-a > /shared/a"))
    assert ok(wharfd.wharf("exec", b, "cat", "/shared/a")) == "from-a\n"
    ok(wharfd.wharf("exec", b, "sh", "-c", "echo from-b > /shared/b"))
    assert ok(wharfd.wharf("exec", a, "cat", "/shared/b")) == "from-b\n"


def test_volume_in_use_cannot_be_removed_409_naming_the_container(wharfd, busybox, cleanup):
    vol, user = _name(), _name()
    cleanup["containers"].append(user)
    cleanup["volumes"].append(vol)
    ok(wharfd.wharf("create", "--name", user, "-v", f"{vol}:/d", busybox, "true"))
    cid = ok(wharfd.wharf("inspect", "-f", "{{.Id}}", user)).strip()
    status, body = wharfd.api("DELETE", f"/volumes/{vol}")
    assert status == 409
    assert body["message"] == f"remove {vol}: volume is in use - [{cid}]"
    r = wharfd.wharf("volume", "rm", "-f", vol)
    assert r.returncode == 1 and cid in r.stderr
    r = wharfd.wharf("volume", "prune", "-f")
    assert vol in ok(wharfd.wharf("volume", "ls", "-q")).split()
    ok(wharfd.wharf("rm", user))
    assert ok(wharfd.wharf("volume", "rm", vol)) == f"{vol}\n"
    r = wharfd.wharf("volume", "rm", vol)
    assert (r.returncode, r.stderr) == (1, f"Error response from daemon: get {vol}: no such volume\n")


def test_volumes_from_with_ro_and_read_only_rootfs(wharfd, busybox, cleanup, host_dir):
    vol, src = _name(), _name()
    cleanup["containers"].append(src)
    cleanup["volumes"].append(vol)
    ok(wharfd.wharf("create", "--name", src, "-v", f"{vol}:/v", "-v", f"{host_dir}:/h", busybox, "true"))
    ok(wharfd.wharf("run", "--rm", "--volumes-from", src, busybox, "sh", "-c",
                    "echo w > /v/f && echo w > /h/f"))
    assert (host_dir / "f").read_text() == "w\n"
    r = wharfd.wharf("run", "--rm", "--volumes-from", f"{src}:ro", busybox, "sh", "-c",
                     "cat /v/f; echo x > /v/f")
    assert r.stdout == "w\n" and "Read-only file system" in r.stderr
    r = wharfd.wharf("run", "--rm", "--read-only", "--volumes-from", src, "--tmpfs", "/scratch",
                     busybox, "sh", "-c", "echo ok > /v/g && echo ok > /scratch/g && cat /v/g /scratch/g"
                     " && touch /rootfile")
    assert r.stdout == "ok\nok\n" and "touch: /rootfile: Read-only file system" in r.stderr


def test_volume_ls_filters_and_format(wharfd, busybox, cleanup):
    used, idle = _name(), _name()
    user = _name()
    cleanup["containers"].append(user)
    cleanup["volumes"] += [used, idle]
    ok(wharfd.wharf("volume", "create", "--label", "tier=db", used))
    ok(wharfd.wharf("volume", "create", "--name", idle))
    ok(wharfd.wharf("create", "--name", user, "-v", f"{used}:/d", busybox, "true"))

    def names(*flags: str) -> list[str]:
        out = ok(wharfd.wharf("volume", "ls", "-q", *flags)).split()
        return [n for n in out if n in (used, idle)]

    assert names("--filter", "dangling=true") == [idle]
    assert names("--filter", "dangling=false") == [used]
    assert names("--filter", "label=tier=db") == [used]
    assert names("--filter", f"name={idle[-6:]}") == [idle]
    assert sorted(names("--filter", "driver=local")) == sorted([used, idle])
    out = ok(wharfd.wharf("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Label \"tier\"}}",
                          "--filter", f"name={used}"))
    assert out == f"{used} local db\n"
    table = ok(wharfd.wharf("volume", "ls", "--filter", f"name={used}"))
    assert table.splitlines() == ["DRIVER    VOLUME NAME", f"local     {used}"]


def test_option_volumes_tmpfs_mounted_only_while_used(wharfd, busybox, cleanup):
    vol, user = _name(), _name()
    cleanup["containers"].append(user)
    cleanup["volumes"].append(vol)
    ok(wharfd.wharf("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                    "-o", "o=size=2m", vol))
    mountpoint = f"{wharfd.data_root}/volumes/{vol}/_data"
    ok(wharfd.wharf("run", "-d", "--name", user, "-v", f"{vol}:/fast", busybox, "sleep", "60"))
    assert ok(wharfd.wharf("exec", user, "sh", "-c", "df -k /fast | tail -1")).split()[1] == "2048"
    ok(wharfd.wharf("exec", user, "sh", "-c", "echo hot > /fast/f"))
    assert Path(mountpoint, "f").read_text() == "hot\n"
    assert mountpoint in open("/proc/self/mountinfo").read()
    ok(wharfd.wharf("stop", "-t", "0", user))
    assert mountpoint not in open("/proc/self/mountinfo").read()
    r = wharfd.wharf("volume", "create", "-o", "colour=red", _name())
    assert r.returncode == 1 and 'invalid option: "colour"' in r.stderr


def test_prune_removes_unused_volumes_and_reports_space(wharfd, busybox, cleanup):
    vol = _name()
    cleanup["volumes"].append(vol)
    ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/d", busybox, "sh", "-c", "head -c 2048 /dev/zero > /d/f"))
    out = ok(wharfd.wharf("volume", "prune", "-f", "--filter", f"label!=wharf-test-keep"))
    assert f"\n{vol}\n" in out and out.startswith("Deleted Volumes:\n")
    assert vol not in ok(wharfd.wharf("volume", "ls", "-q")).split()
    r = wharfd.wharf("volume", "prune", input="n\n")
    assert r.stdout.startswith("WARNING! This will remove all local volumes not used by at least "
                               "one container.\nAre you sure you want to continue? [y/N] ")


@pytest.mark.parametrize("propagation,seen", [("rslave", True), ("rprivate", False)])
def test_bind_propagation_of_host_mounts_into_a_running_container(
        wharfd, busybox, cleanup, host_dir, propagation, seen):
    """A host mount made under a shared bind source reaches the container only with rslave."""
    name = _name()
    cleanup["containers"].append(name)
    sub = host_dir / "sub"
    sub.mkdir()
    subprocess.run(["mount", "--bind", str(host_dir), str(host_dir)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(host_dir)], check=True)
        ok(wharfd.wharf("run", "-d", "--name", name, "--mount",
                        f"type=bind,source={host_dir},target=/h,bind-propagation={propagation}",
                        busybox, "sleep", "60"))
        subprocess.run(["mount", "-t", "tmpfs", "wharf-test-prop", str(sub)], check=True)
        try:
            mounts = ok(wharfd.wharf("exec", name, "cat", "/proc/mounts"))
            assert ("wharf-test-prop /h/sub tmpfs" in mounts) is seen
        finally:
            ok(wharfd.wharf("rm", "-f", name))
            subprocess.run(["umount", str(sub)], check=True)
    finally:
        subprocess.run(["umount", str(host_dir)], check=True)


def test_ps_volume_filter_by_name_or_destination(wharfd, busybox, cleanup):
    vol, user, other = _name(), _name(), _name()
    cleanup["containers"] += [user, other]
    cleanup["volumes"].append(vol)
    ok(wharfd.wharf("create", "--name", user, "-v", f"{vol}:/wharf-test-dest", busybox, "true"))
    ok(wharfd.wharf("create", "--name", other, busybox, "true"))
    for value in (vol, "/wharf-test-dest"):
        out = ok(wharfd.wharf("ps", "-a", "--filter", f"volume={value}", "--format", "{{.Names}}"))
        assert out == f"{user}\n"


def test_volume_events_create_mount_unmount_destroy(wharfd, busybox, cleanup):
    vol = _name()
    cleanup["volumes"].append(vol)
    since = str(int(time.time()) - 1)
    ok(wharfd.wharf("run", "--rm", "-v", f"{vol}:/d", busybox, "true"))
    ok(wharfd.wharf("volume", "rm", vol))
    out = ok(wharfd.wharf("events", "--since", since, "--until", str(int(time.time()) + 1),
                          "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"))
    mine = [line for line in out.splitlines() if line.endswith(f" {vol}")]  # others run too
    assert mine == [f"create {vol}", f"mount {vol}", f"unmount {vol}", f"destroy {vol}"]
