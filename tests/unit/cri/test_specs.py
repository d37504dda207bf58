"""CRI configs as the engine's create bodies (``wharf.cri.specs``)."""

from __future__ import annotations

import pytest

from wharf.cri import labels, specs
from wharf.cri.pb import api_pb2 as pb
from wharf.errors import InvalidParameter

SANDBOX_LABELS = {labels.LOG_DIRECTORY: "/var/log/pods/p", labels.HOSTNAME: "web-0"}


def _container(**security: object) -> pb.ContainerConfig:
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="c", attempt=2), image=pb.ImageSpec(image="busybox"),
        args=["sleep", "9"], log_path="c/2.log",
        linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(**security)))


def test_container_joins_its_sandbox() -> None:
    body = specs.container_body(_container(), "sid", {"NetworkMode": "default"}, SANDBOX_LABELS)
    hc = body["HostConfig"]
    assert hc["NetworkMode"] == hc["IpcMode"] == hc["UTSMode"] == "container:sid"
    assert "Entrypoint" not in body and body["Cmd"] == ["sleep", "9"]  # image entrypoint kept
    assert body["Hostname"] == "web-0"
    assert hc["LogConfig"]["Type"] == "json-file"  # what the CRI log is copied from
    assert body["Labels"][labels.LOG_PATH] == "/var/log/pods/p/c/2.log"
    assert labels.metadata(body["Labels"]) == {"name": "c", "attempt": 2}


def test_seccomp_profiles() -> None:
    def opts(**security: object) -> list[str]:
        body = specs.container_body(_container(**security), "s", {}, SANDBOX_LABELS)
        return body["HostConfig"]["SecurityOpt"] or []
    assert opts() == ["seccomp=unconfined"]  # no profile: unconfined, as the CRI says
    assert opts(seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)) == []
    assert opts(seccomp_profile_path="runtime/default") == []
    assert opts(no_new_privs=True, seccomp=pb.SecurityProfile()) == ["no-new-privileges"]


def test_group_needs_a_user() -> None:
    with pytest.raises(InvalidParameter):
        specs.container_body(_container(run_as_group=pb.Int64Value(value=5)), "s", {}, {})
    body = specs.container_body(_container(run_as_user=pb.Int64Value(value=0),
                                           run_as_group=pb.Int64Value(value=5)), "s", {}, {})
    assert body["User"] == "0:5"


def test_propagation_round_trip() -> None:
    for mode in (pb.PROPAGATION_PRIVATE, pb.PROPAGATION_HOST_TO_CONTAINER,
                 pb.PROPAGATION_BIDIRECTIONAL):
        m = specs._mount(pb.Mount(host_path="/h", container_path="/c", propagation=mode))
        assert specs.propagation(m["BindOptions"]["Propagation"]) == mode


def _mounts(*mounts: pb.Mount, **security: object) -> dict[str, object]:
    config = _container(**security)
    config.mounts.extend(mounts)
    return specs.container_body(config, "s", {}, {})["HostConfig"]


def test_mounts_as_the_engine_takes_them() -> None:
    [bind] = _mounts(pb.Mount(host_path="/h", container_path="/c", readonly=True,
                              recursive_read_only=True))["Mounts"]
    assert bind["ReadOnly"] and bind["BindOptions"]["ReadOnlyForceRecursive"]
    assert bind["BindOptions"]["CreateMountpoint"]  # a missing host path is made, as containerd
    image = pb.ImageSpec(image="sha256:" + "a" * 64)
    [volume] = _mounts(pb.Mount(container_path="/v", readonly=True, image=image,
                                image_sub_path="etc"))["Mounts"]
    assert volume == {"Type": "image", "Source": image.image, "Target": "/v", "ReadOnly": True,
                      "ImageOptions": {"Subpath": "etc"}}
    with pytest.raises(InvalidParameter, match="read-only"):
        _mounts(pb.Mount(container_path="/v", image=image))


def test_masked_and_readonly_paths_replace_the_defaults_only_when_given() -> None:
    hc = _mounts(masked_paths=["/bin/ls"], readonly_paths=["/tmp"])
    assert hc["MaskedPaths"] == ["/bin/ls"] and hc["ReadonlyPaths"] == ["/tmp"]
    hc = _mounts()
    assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None


def _userns(mode: int, *ranges: tuple[int, int, int]) -> pb.NamespaceOption:
    ids = [pb.IDMapping(container_id=c, host_id=h, length=n) for c, h, n in ranges]
    return pb.NamespaceOption(userns_options=pb.UserNamespace(mode=mode, uids=ids, gids=ids))


def test_pod_user_namespaces() -> None:
    assert specs.id_mapping(pb.NamespaceOption()) is None
    assert specs.id_mapping(_userns(pb.NODE)) is None
    mapping = specs.id_mapping(_userns(pb.POD, (0, 1000, 100000)))
    assert mapping == {"UIDMappings": [{"ContainerID": 0, "HostID": 1000, "Size": 100000}],
                       "GIDMappings": [{"ContainerID": 0, "HostID": 1000, "Size": 100000}]}
    for refused in (_userns(pb.POD, (0, 1000, 10), (10, 2000, 10)), _userns(pb.POD, (1, 1000, 9)),
                    _userns(pb.CONTAINER), _userns(pb.TARGET)):
        with pytest.raises(InvalidParameter):
            specs.id_mapping(refused)
    # the pod's containers get the sandbox's mappings
    body = specs.container_body(_container(), "s", {"IDMapping": mapping}, {})
    assert body["HostConfig"]["IDMapping"] == mapping
