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
        bind = specs._bind(pb.Mount(host_path="/h", container_path="/c", propagation=mode))
        assert specs.propagation(bind.rsplit(",", 1)[1]) == mode
