"""-v / --mount / --tmpfs / VOLUME parsing into mount points, inspect's Mounts and OCI mounts."""

import pytest

from wharf.engine import mounts
from wharf.errors import InvalidParameter


def test_binds_volumes_tmpfs_and_their_inspect_shape(tmp_path):
    src = str(tmp_path)
    points = mounts.parse({"Binds": [f"{src}:/data:ro", "cache:/cache"],
                           "Mounts": [{"Type": "bind", "Source": src, "Target": "/b",
                                       "BindOptions": {"Propagation": "rslave"}},
                                      {"Type": "volume", "Target": "/anon",
                                       "VolumeOptions": {"NoCopy": True}},
                                      {"Type": "tmpfs", "Target": "/t",
                                       "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o700}}]},
                          [])
    assert [mounts.inspect(p) for p in points[:2]] == [
        {"Type": "bind", "Source": src, "Destination": "/data", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
        {"Type": "volume", "Name": "cache", "Source": "", "Destination": "/cache",
         "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}]
    assert points[2]["Propagation"] == "rslave"
    assert (points[3]["Name"], points[3]["CopyData"]) == ("", False)
    assert points[4]["Options"] == ["size=1024k", "mode=700"]


def test_oci_mounts_parents_first_with_options(tmp_path):
    src = str(tmp_path)
    points = mounts.parse({"Binds": [f"{src}/deep:/a/b:ro,rshared", f"{src}:/a"]}, [])
    oci = mounts.to_oci(points, {"/run": "size=1m,ro"})
    assert [m["destination"] for m in oci] == ["/a", "/run", "/a/b"]
    assert oci[2] == {"destination": "/a/b", "type": "bind", "source": f"{src}/deep",
                      "options": ["rbind", "rshared", "ro"]}
    assert (tmp_path / "deep").is_dir()  # -v makes a missing host path
    assert oci[1]["type"] == "tmpfs" and {"size=1m", "ro", "noexec"} <= set(oci[1]["options"])


def test_image_volumes_become_anonymous_unless_covered(tmp_path):
    points = mounts.parse({"Binds": [f"{tmp_path}:/data"], "Tmpfs": {"/run": ""}},
                          ["/data", "/run", "/var/lib/app/"])
    assert [(p["Type"], p["Destination"], p.get("Anonymous", False)) for p in points] == [
        ("bind", "/data", False), ("volume", "/var/lib/app", True)]


def test_volumes_from_keeps_own_paths_and_applies_mode(tmp_path):
    other = mounts.parse({"Binds": ["shared:/s", f"{tmp_path}:/mine"],
                          "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}, [])
    mine = mounts.parse({"Binds": ["own:/mine"]}, [])
    merged = mounts.merge_from(mine, other, "ro")
    assert [(p["Destination"], p["Name"], p["RW"]) for p in merged] == [
        ("/mine", "own", True), ("/s", "shared", False)]
    with pytest.raises(InvalidParameter, match="invalid mode: xx"):
        mounts.merge_from(mine, other, "xx")


@pytest.mark.parametrize("hc,message", [
    ({"Binds": ["/x"]}, "invalid volume specification: '/x'"),
    ({"Binds": ["/x:rel"]}, "invalid mount path: 'rel' mount path must be absolute"),
    ({"Binds": ["/x:/a:bogus"]}, "invalid mode: bogus"),
    ({"Binds": ["vol:/a:rshared"]}, "invalid mode: rshared"),
    ({"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/a"}]},
     "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be "
     "absolute"),
    ({"Mounts": [{"Type": "bind", "Source": "/no/such/dir", "Target": "/a"}]},
     'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'),
    ({"Mounts": [{"Type": "bind", "Target": "/a"}]}, "field Source must not be empty"),
    ({"Mounts": [{"Type": "tmpfs", "Source": "x", "Target": "/a"}]},
     "field Source must not be specified"),
    ({"Mounts": [{"Type": "nfs", "Target": "/a"}]}, "mount type unknown"),
    ({"Binds": ["/x:/a", "/y:/a"]}, "Duplicate mount point: /a"),
])
def test_refused_with_dockers_words(hc, message):
    with pytest.raises(InvalidParameter) as err:
        mounts.parse(hc, [])
    assert message in err.value.message


def test_a_shared_bind_makes_the_root_propagation_rshared(tmp_path):
    def root(mode: str) -> str:
        return mounts.root_propagation(mounts.parse({"Binds": [f"{tmp_path}:/a:{mode}"]}, []))
    assert root("rshared") == root("shared") == "rshared"  # its mounts must reach the host
    assert root("rslave") == root("ro") == ""  # the runtime's default, rslave
