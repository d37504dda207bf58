"""API versions 1.12 to 1.43 as dockerd 24 serves them: clients negotiate the
newest (docker-py unpinned, the docker CLI), and the routes that changed
between 1.41 and 1.43 answer each version as it was."""

from __future__ import annotations

import json
import secrets

import pytest

docker = pytest.importorskip("docker")  # docker-py, installed by scripts/setup.sh --test


def _name() -> str:
    return f"wv-{secrets.token_hex(4)}"


def test_docker_py_unpinned_negotiates_1_43(wharfd, busybox):
    client = docker.APIClient(base_url=wharfd.host, version="auto")
    try:
        assert client.api_version == "1.43"
        assert client.version()["ApiVersion"] == "1.43"
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        out = docker.DockerClient(base_url=wharfd.host).containers.run(
            busybox, ["echo", "negotiated"], remove=True, network_mode="none")
        assert out == b"negotiated\n"
    finally:
        client.close()


def test_docker_cli_talks_1_43(wharfd):
    r = wharfd.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}")
    assert r.returncode == 0 and r.stdout.split() == ["1.43", "1.12"], r.stderr
    r = wharfd.docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    assert r.returncode == 0 and r.stdout.strip() == "inactive", r.stderr


def test_volume_prune_keeps_named_volumes_from_1_42(wharfd):
    """API 1.42: prune takes anonymous volumes only, unless the ``all`` filter says so
    (``docker volume prune -a``); older versions keep taking every unused volume."""
    mark = _name()
    mine = json.dumps({"label": [f"wv={mark}"]})
    named = [_name() for _ in range(2)]
    for name in named:
        assert wharfd.api("POST", "/volumes/create", {"Name": name, "Labels": {"wv": mark}})[0] == 201
    try:
        status, report = wharfd.api("POST", "/v1.43/volumes/prune", params={"filters": mine})
        assert status == 200 and report["VolumesDeleted"] is None
        r = wharfd.docker("volume", "prune", "-f", "--filter", f"label=wv={mark}")
        assert r.returncode == 0 and not set(named) & set(r.stdout.split()), r.stdout + r.stderr
        r = wharfd.docker("volume", "prune", "-af", "--filter", f"label=wv={mark}")
        assert r.returncode == 0 and set(named) <= set(r.stdout.split()), r.stdout + r.stderr
        for name in named:
            assert wharfd.api("POST", "/volumes/create", {"Name": name, "Labels": {"wv": mark}})[0] == 201
        status, report = wharfd.api("POST", "/v1.41/volumes/prune", params={"filters": mine})
        assert status == 200 and sorted(report["VolumesDeleted"]) == sorted(named)
        # one made without a name is anonymous (dockerd 23+): 1.43's prune takes it
        status, unnamed = wharfd.api("POST", "/volumes/create", {"Labels": {"wv": mark}})
        assert status == 201 and "com.docker.volume.anonymous" in unnamed["Labels"]
        status, report = wharfd.api("POST", "/v1.43/volumes/prune", params={"filters": mine})
        assert status == 200 and report["VolumesDeleted"] == [unnamed["Name"]]
    finally:
        for name in named:
            wharfd.api("DELETE", f"/volumes/{name}")


def test_system_df_types_and_image_shared_size(wharfd, busybox):
    status, df = wharfd.api("GET", "/v1.43/system/df", params={"type": "volume"})
    assert status == 200 and isinstance(df["Volumes"], list)
    assert df["Images"] is None and df["Containers"] is None and df["BuildCache"] is None
    status, df = wharfd.api("GET", "/v1.41/system/df", params={"type": "volume"})
    assert status == 200 and isinstance(df["Images"], list) and isinstance(df["Containers"], list)
    status, body = wharfd.api("GET", "/v1.43/system/df", params={"type": "plugin"})
    assert status == 400 and body["message"] == "unknown object type: plugin"

    status, images = wharfd.api("GET", "/images/json")
    assert status == 200 and {i["SharedSize"] for i in images} == {-1}
    status, images = wharfd.api("GET", "/images/json", params={"shared-size": "1"})
    assert status == 200 and all(i["SharedSize"] >= 0 for i in images)


def test_create_as_of_version(wharfd, busybox):
    """Mount options that do not fit the mount's type are ignored before 1.42 and refused
    from it; HostConfig.Annotations exist from 1.43 and reach the runtime's spec."""
    tmpfs_on_volume = {"Type": "volume", "Target": "/data", "TmpfsOptions": {"SizeBytes": 1 << 20}}
    body = {"Image": busybox, "Cmd": ["sleep", "60"],
            "HostConfig": {"Mounts": [tmpfs_on_volume], "NetworkMode": "none",
                           "Annotations": {"com.example.note": "hello"}}}
    status, refused = wharfd.api("POST", "/v1.43/containers/create", body)
    assert status == 400
    assert refused["message"] == 'TmpfsOptions must not be specified on mount type "volume"'

    made = []
    try:
        status, old = wharfd.api("POST", "/v1.41/containers/create", body)
        assert status == 201, old
        made.append(old["Id"])
        body["HostConfig"]["Mounts"] = []
        status, new = wharfd.api("POST", "/v1.43/containers/create", body)
        assert status == 201, new
        made.append(new["Id"])
        assert wharfd.api("POST", f"/containers/{new['Id']}/start")[0] == 204
        inspected = {cid: wharfd.api("GET", f"/containers/{cid}/json")[1] for cid in made}
        assert "TmpfsOptions" not in inspected[old["Id"]]["HostConfig"]["Mounts"][0]
        assert not inspected[old["Id"]]["HostConfig"].get("Annotations")
        assert inspected[new["Id"]]["HostConfig"]["Annotations"] == {"com.example.note": "hello"}
        spec = json.loads((wharfd.exec_root / "containers" / new["Id"] / "config.json").read_text())
        assert spec["annotations"]["com.example.note"] == "hello"
    finally:
        for cid in made:
            wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1, "v": 1})


def test_exec_console_size_from_1_42(wharfd, busybox):
    """An exec's tty has the ConsoleSize the client gave at create (1.42+), as init's does."""
    status, c = wharfd.api("POST", "/containers/create", {
        "Image": busybox, "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "none"}})
    assert status == 201, c
    client = docker.APIClient(base_url=wharfd.host, version="1.43")
    try:
        assert wharfd.api("POST", f"/containers/{c['Id']}/start")[0] == 204
        sizes = {}
        for version in ("1.43", "1.41"):
            status, ex = wharfd.api("POST", f"/v{version}/containers/{c['Id']}/exec", {
                "Cmd": ["stty", "size"], "Tty": True, "AttachStdout": True,
                "ConsoleSize": [33, 111]})
            assert status == 201, ex
            sizes[version] = client.exec_start(ex["Id"], tty=True).decode().split()
        assert sizes["1.43"] == ["33", "111"]
        assert sizes["1.41"] != ["33", "111"]  # not a field of 1.41: the default size
        status, body = wharfd.api("POST", f"/containers/{c['Id']}/exec",
                                  {"Cmd": ["true"], "ConsoleSize": [1]})
        assert status == 400 and "ConsoleSize" in body["message"]
    finally:
        client.close()
        wharfd.api("DELETE", f"/containers/{c['Id']}", params={"force": 1})


def test_bind_create_mountpoint_from_1_42(wharfd, busybox, tmp_path):
    """BindOptions.CreateMountpoint (1.42) makes a missing bind source at start;
    older versions ignore it and refuse the missing source as before."""
    source = tmp_path / "made" / "here"
    body = {"Image": busybox, "Cmd": ["sh", "-c", "echo in > /m/f"],
            "HostConfig": {"NetworkMode": "none", "Mounts": [
                {"Type": "bind", "Source": str(source), "Target": "/m",
                 "BindOptions": {"CreateMountpoint": True}}]}}
    status, refused = wharfd.api("POST", "/v1.41/containers/create", body)
    assert status == 400 and f"bind source path does not exist: {source}" in refused["message"]
    status, c = wharfd.api("POST", "/v1.43/containers/create", body)
    assert status == 201, c
    try:
        assert wharfd.api("POST", f"/containers/{c['Id']}/start")[0] == 204
        status, waited = wharfd.api("POST", f"/containers/{c['Id']}/wait")
        assert status == 200 and waited["StatusCode"] == 0
        assert (source / "f").read_text() == "in\n"
    finally:
        wharfd.api("DELETE", f"/containers/{c['Id']}", params={"force": 1})


def test_the_engines_cri_shapes_are_not_docker_api(wharfd, busybox, tmp_path):
    """Image mounts (API 1.48), ReadOnlyForceRecursive (1.44) and the engine's IDMapping
    (the CRI's pod user namespaces) are newer than any version served: refused or
    dropped, as dockerd 24 does."""
    image = {"Image": busybox, "HostConfig": {"Mounts": [
        {"Type": "image", "Source": busybox, "Target": "/img"}]}}
    status, refused = wharfd.api("POST", "/containers/create", image)
    assert status == 400
    assert refused["message"] == 'invalid mount config for type "image": mount type unknown'
    mapping = [{"ContainerID": 0, "HostID": 1000, "Size": 100000}]
    body = {"Image": busybox, "Cmd": ["cat", "/proc/self/uid_map"],
            "HostConfig": {"NetworkMode": "none",
                           "IDMapping": {"UIDMappings": mapping, "GIDMappings": mapping}}}
    status, c = wharfd.api("POST", "/containers/create", body)
    assert status == 201, c
    try:
        assert "IDMapping" not in wharfd.api("GET", f"/containers/{c['Id']}/json")[1]["HostConfig"]
        assert wharfd.api("POST", f"/containers/{c['Id']}/start")[0] == 204
        assert wharfd.wharf("wait", c["Id"]).stdout.strip() == "0"
        # the host's user namespace: every id mapped to itself
        assert wharfd.wharf("logs", c["Id"]).stdout.split() == ["0", "0", "4294967295"]
    finally:
        wharfd.api("DELETE", f"/containers/{c['Id']}", params={"force": 1})
