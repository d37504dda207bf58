"""wharf as a CRI runtime, driven by crictl as a node operator would (issue 18's must-show):
a busybox pod through runp, create, start, exec, logs, stop, rm, stopp, rmp."""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from support import cri, polling

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
NONEWPRIVS = "registry.k8s.io/e2e-test-images/nonewprivs:1.3"


@pytest.fixture(scope="module")
def crictl(make_wharfd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[cri.Crictl]:
    d = make_wharfd(with_busybox=False)
    cri.load_images(d)
    tools = cri.unpack(tmp_path_factory.mktemp("cri-tools"))
    c = cri.Crictl(tools / "crictl", d)
    c.daemon = d  # type: ignore[attr-defined]
    yield c


def _write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_busybox_pod_lifecycle(crictl: cri.Crictl, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    pod = _write(tmp_path / "pod.json", {
        "metadata": {"name": "bb", "namespace": "default", "uid": "uid-1", "attempt": 0},
        "hostname": "bbpod", "log_directory": str(logs),
        "labels": {"app": "bb"}, "annotations": {"note": "hi"}, "linux": {}})
    ctr = _write(tmp_path / "ctr.json", {
        "metadata": {"name": "main"}, "image": {"image": BUSYBOX},
        "command": ["sh", "-c", "echo hello; echo oops >&2; printf partial; sleep 1000"],
        "log_path": "main.log", "labels": {"tier": "x"}, "linux": {}})
    pod_id = crictl.ok("runp", pod).strip()
    status = crictl.json("inspectp", pod_id)["status"]
    assert status["state"] == "SANDBOX_READY"
    assert status["labels"] == {"app": "bb"} and status["annotations"] == {"note": "hi"}
    assert status["network"]["ip"]

    cid = crictl.ok("create", pod_id, ctr, pod).strip()
    assert crictl.json("inspect", cid)["status"]["state"] == "CONTAINER_CREATED"
    crictl.ok("start", cid)
    assert crictl.json("inspect", cid)["status"]["state"] == "CONTAINER_RUNNING"
    listed = crictl.json("ps", "--pod", pod_id)["containers"]
    assert [c["id"] for c in listed] == [cid] and listed[0]["labels"] == {"tier": "x"}

    # the pod's namespaces: its hostname, and its IP on the container's eth0
    assert crictl.ok("exec", "-s", cid, "hostname").strip() == "bbpod"
    assert status["network"]["ip"] in crictl.ok("exec", "-s", cid, "ip", "-4", "addr")
    failed = crictl.run("exec", "-s", cid, "sh", "-c", "exit 3")
    assert failed.returncode != 0 and "exited with 3" in failed.stderr
    # streaming exec (the Exec URL, Kubernetes' websocket protocol): stdin in, both streams out
    streamed = subprocess.run([*crictl.argv, "exec", "-i", "--transport", "websocket", cid,
                               "sh", "-c", "cat; echo err >&2; exit 4"], input="piped\n",
                              capture_output=True, text=True, timeout=60)
    assert streamed.stdout == "piped\n" and streamed.stderr.startswith("err\n")
    assert "exit code 4" in streamed.stderr

    # UpdateContainerResources reaches the running container's cgroup
    crictl.ok("update", "--memory", str(96 * 1024 * 1024), cid)
    limit = crictl.ok("exec", "-s", cid, "sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null"
                      " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2 or v1
    assert int(limit) == 96 * 1024 * 1024

    crictl.ok("stop", "-t", "0", cid)
    inspected = crictl.json("inspect", cid)["status"]
    assert inspected["state"] == "CONTAINER_EXITED" and inspected["exitCode"] == 137
    assert inspected["logPath"] == str(logs / "main.log")
    # the CRI log: RFC3339Nano, stream, F (full line) or P (partial)
    lines = (logs / "main.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines[:3]] == [
        "stdout F hello", "stderr F oops", "stdout P partial"] or sorted(
        line.split(" ", 1)[1] for line in lines) == [
        "stderr F oops", "stdout F hello", "stdout P partial"]
    out = crictl.run("logs", cid)
    assert out.stdout == "hello\npartial" and out.stderr == "oops\n"

    crictl.ok("rm", cid)
    assert crictl.json("ps", "-a")["containers"] == []
    crictl.ok("stopp", pod_id)
    assert crictl.json("inspectp", pod_id)["status"]["state"] == "SANDBOX_NOTREADY"
    crictl.ok("rmp", pod_id)
    assert crictl.json("pods")["items"] == []
    crictl.ok("stopp", pod_id)  # idempotent: a pod that is gone stops without an error
    d = crictl.daemon  # type: ignore[attr-defined]
    assert d.wharf("ps", "-aq").stdout == ""


def test_one_image_store(crictl: cri.Crictl) -> None:
    """An image the CRI sees is in ``wharf images``, and one removed there is gone here."""
    d = crictl.daemon  # type: ignore[attr-defined]
    images = {t for i in crictl.json("images")["images"] for t in i["repoTags"]}
    assert BUSYBOX in images and "registry.k8s.io/pause:3.9" in images
    assert d.wharf("tag", NONEWPRIVS, "mine:1").returncode == 0
    assert crictl.json("inspecti", "docker.io/library/mine:1")["status"]["repoTags"]
    crictl.ok("rmi", "docker.io/library/mine:1")  # the CRI removes the image, all its tags
    listed = d.wharf("images").stdout
    assert "mine" not in listed and "e2e-test-images/nonewprivs" not in listed
    info = crictl.json("imagefsinfo")
    assert int(info["status"]["imageFilesystems"][0]["usedBytes"]["value"]) > 0


def _image_fs(crictl: cri.Crictl) -> tuple[int, int]:
    [usage] = crictl.json("imagefsinfo")["status"]["imageFilesystems"]
    return int(usage["usedBytes"]["value"]), int(usage["inodesUsed"]["value"])


def test_image_fs_info_counts_a_pulled_layer_until_it_is_removed(crictl: cri.Crictl, tmp_path: Path) -> None:
    """ImageFsInfo is kept between the kubelet's asks, and is right again after a pull and a remove."""
    d = crictl.daemon  # type: ignore[attr-defined]
    server = wharf_registry(tmp_path, "open")
    ref = f"{server.addr}/fsinfo/blob:1"
    try:
        blob = tmp_path / "blob"
        blob.write_bytes(secrets.token_bytes(400_000))
        layer = tmp_path / "layer.tar"
        subprocess.run(["tar", "-cf", str(layer), "-C", str(tmp_path), "blob"], check=True)
        for args in (("import", str(layer), ref), ("push", ref), ("rmi", ref)):
            r = d.wharf(*args)
            assert r.returncode == 0, f"wharf {' '.join(args)}: {r.stderr}"
        before = _image_fs(crictl)
        assert _image_fs(crictl) == before
        crictl.ok("pull", ref)
        pulled = _image_fs(crictl)
        assert pulled[0] >= before[0] + 400_000 and pulled[1] > before[1]
        crictl.ok("rmi", ref)
        after = _image_fs(crictl)
        assert after[1] == before[1] and after[0] <= pulled[0] - 400_000
    finally:
        server.stop()


def test_pod_on_a_cni_network(make_wharfd: Any, tmp_path: Path) -> None:
    """With --cni-conf-dir, a pod's network is the CNI plugins' (Debian's bridge and
    host-local here): its IP from the config's subnet, reachable from the host."""
    token = secrets.token_hex(3)
    bridge, subnet = f"wc{token}", f"10.{150 + secrets.randbelow(50)}.{secrets.randbelow(256)}"
    conf = tmp_path / "net.d"
    conf.mkdir()
    (conf / "10-test.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": f"wharf-test-{token}", "plugins": [{
            "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": f"{subnet}.0/24"}]],
                     "dataDir": str(tmp_path / "ipam")}}]}))
    try:
        d = make_wharfd(with_busybox=False, extra_args=["--cni-conf-dir", str(conf)])
        cri.load_images(d)
        crictl = cri.Crictl(cri.unpack(tmp_path / "bin") / "crictl", d)
        pod = _write(tmp_path / "pod.json", {
            "metadata": {"name": "web", "namespace": "default", "uid": "uid-2"}, "linux": {}})
        ctr = _write(tmp_path / "ctr.json", {
            "metadata": {"name": "nginx"},
            "image": {"image": "registry.k8s.io/e2e-test-images/nginx:1.14-2"}, "linux": {}})
        pod_id = crictl.ok("runp", pod).strip()
        ip = crictl.json("inspectp", pod_id)["status"]["network"]["ip"]
        assert ip.startswith(subnet + ".")
        cid = crictl.ok("create", pod_id, ctr, pod).strip()
        crictl.ok("start", cid)
        assert f"inet {ip}/24" in crictl.ok("exec", "-s", cid, "ip", "-4", "addr", "show", "eth0")
        # nginx answers once it has started: from the host, straight to the pod's IP
        assert polling.eventually(lambda: (_get(ip, 80) or "").startswith("HTTP/1.1 200"), 30)
        crictl.ok("stopp", pod_id)
        crictl.ok("rmp", pod_id)
        assert not list((tmp_path / "ipam").rglob(ip))  # the DEL gave the address back
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def _get(ip: str, port: int) -> str | None:
    try:
        with socket.create_connection((ip, port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(64).decode(errors="replace")
    except OSError:
        return None


def test_v1alpha2_for_older_kubelets(crictl: cri.Crictl) -> None:
    """The same services answer as runtime.v1alpha2 (kubelet 1.20 speaks it)."""
    import grpc

    from wharf.cri.pb import api_pb2 as pb
    d = crictl.daemon  # type: ignore[attr-defined]
    with grpc.insecure_channel(f"unix://{d.cri_socket}") as channel:
        def call(method: str, request: Any, answer: Any) -> Any:
            return channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                                       response_deserializer=answer.FromString)(request, timeout=30)
        version = call("/runtime.v1alpha2.RuntimeService/Version", pb.VersionRequest(),
                       pb.VersionResponse)
        assert version.runtime_name == "wharf"
        images = call("/runtime.v1alpha2.ImageService/ListImages", pb.ListImagesRequest(),
                      pb.ListImagesResponse)
        assert any(BUSYBOX in i.repo_tags for i in images.images)


def test_pod_survives_a_daemon_restart(crictl: cri.Crictl, tmp_path: Path) -> None:
    """Live restore: after wharfd restarts, the pod and its container still run, and the
    CRI log goes on from where the copy stopped."""
    d = crictl.daemon  # type: ignore[attr-defined]
    logs = tmp_path / "logs"
    pod = _write(tmp_path / "pod.json", {
        "metadata": {"name": "lr", "namespace": "default", "uid": "uid-3"},
        "log_directory": str(logs), "linux": {}})
    ctr = _write(tmp_path / "ctr.json", {
        "metadata": {"name": "ticker"}, "image": {"image": BUSYBOX},
        "command": ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"],
        "log_path": "t.log", "linux": {}})
    pod_id = crictl.ok("runp", pod).strip()
    cid = crictl.ok("create", pod_id, ctr, pod).strip()
    crictl.ok("start", cid)
    log = logs / "t.log"
    assert polling.eventually(lambda: "tick 1\n" in log.read_text(), 30)
    d.restart()
    assert crictl.json("inspectp", pod_id)["status"]["state"] == "SANDBOX_READY"
    assert crictl.json("inspect", cid)["status"]["state"] == "CONTAINER_RUNNING"
    after = len(log.read_text().splitlines())
    assert polling.eventually(lambda: len(log.read_text().splitlines()) > after + 5, 30)
    crictl.ok("stopp", pod_id)
    crictl.ok("rmp", pod_id)
    assert crictl.json("pods")["items"] == []


def test_streaming_over_spdy(crictl: cri.Crictl, tmp_path: Path) -> None:
    """crictl's default transport (SPDY/3.1, as the kubelet and critest): exec with stdin
    and both streams, attach, and port-forward into the pod's network namespace."""
    pod = _write(tmp_path / "pod.json", {
        "metadata": {"name": "sp", "namespace": "default", "uid": "uid-4"}, "linux": {}})
    web = _write(tmp_path / "web.json", {
        "metadata": {"name": "web"},
        "image": {"image": "registry.k8s.io/e2e-test-images/nginx:1.14-2"}, "linux": {}})
    echo = _write(tmp_path / "echo.json", {
        "metadata": {"name": "echo"}, "image": {"image": BUSYBOX}, "stdin": True,
        "command": ["sh", "-c", "read line; echo got $line; read more"], "linux": {}})
    pod_id = crictl.ok("runp", pod).strip()
    try:
        web_id = crictl.ok("create", pod_id, web, pod).strip()
        echo_id = crictl.ok("create", pod_id, echo, pod).strip()
        crictl.ok("start", web_id)
        crictl.ok("start", echo_id)

        streamed = subprocess.run([*crictl.argv, "exec", "-i", web_id,
                                   "sh", "-c", "cat; echo err >&2; exit 4"], input="piped\n",
                                  capture_output=True, text=True, timeout=60)
        assert streamed.stdout == "piped\n" and streamed.stderr.startswith("err\n")
        assert "exit code 4" in streamed.stderr

        attached = subprocess.Popen([*crictl.argv, "attach", "-i", echo_id],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        try:
            assert attached.stdin is not None and attached.stdout is not None
            attached.stdin.write("hello\n")
            attached.stdin.flush()
            assert attached.stdout.readline() == "got hello\n"
        finally:
            attached.kill()
            attached.communicate(timeout=30)

        for transport in ("spdy", "websocket"):  # websocket: SPDY tunnelled in its messages
            with _port_forward(crictl, pod_id, 80, transport) as forward:
                assert polling.eventually(lambda: (_get("127.0.0.1", forward.local) or "")
                                          .startswith("HTTP/1.1 200"), 30)
        with _port_forward(crictl, pod_id, 81) as forward:  # nothing listens there
            assert _get("127.0.0.1", forward.local) in ("", None)
        assert "error forwarding port 81" in forward.stderr
    finally:
        crictl.ok("stopp", pod_id)
        crictl.ok("rmp", pod_id)


class _Forward:
    local = 0  # the port crictl listens on
    stderr = ""  # what it said, once stopped


@contextlib.contextmanager
def _port_forward(crictl: cri.Crictl, pod_id: str, port: int,
                  transport: str = "spdy") -> Iterator[_Forward]:
    """``crictl port-forward POD :PORT`` running until the block ends."""
    proc = subprocess.Popen([*crictl.argv, "port-forward", "--transport", transport, pod_id,
                             f":{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    forward = _Forward()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 80"
        assert line.startswith("Forwarding from 127.0.0.1:"), line + proc.stderr.read()
        forward.local = int(line.split("127.0.0.1:", 1)[1].split()[0])
        yield forward
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            forward.stderr = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            forward.stderr = proc.communicate()[1]
