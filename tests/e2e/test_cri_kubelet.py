"""A real kubelet (``../shared/tools/k8s``: v1.20.2, CRI v1alpha2) in standalone mode on
wharf's CRI (issue 18): a static pod of two containers that talk over localhost, a
container that exits is restarted, and the pod stops when its manifest goes away.

The kubelet writes a few host paths of its own (``/var/log/pods``,
``/var/log/containers``, ``/var/lib/kubelet/device-plugins``): the test removes
what it made there, and its root dir (which the kubelet bind-mounts on itself)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from support import cri, polling

IPTABLES_TABLES = ("nat", "filter", "mangle")
HOST_DIRS = ("/var/log/pods", "/var/log/containers", "/var/lib/kubelet")
MANIFEST = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "duo", "namespace": "default"},
    "spec": {"containers": [
        {"name": "web", "image": "registry.k8s.io/e2e-test-images/nginx:1.14-2",
         "imagePullPolicy": "IfNotPresent"},
        {"name": "client", "image": "registry.k8s.io/e2e-test-images/busybox:1.29-2",
         "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", "until wget -qO- http://127.0.0.1:80/ | grep -o 'Welcome to nginx'; "
                                 "do sleep 0.2; done; exit 1"]}]}}


def _tools() -> Path:
    found = cri.tools_dir("k8s", "WHARF_K8S_TOOLS")
    assert found is not None, "no kubelet: set WHARF_K8S_TOOLS or keep ../shared/tools/k8s"
    return found


def _nft_tables() -> set[str]:
    """``ip nat``-style names of the host's nftables tables (iptables-nft's included)."""
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return {line.removeprefix("table ").strip() for line in out.splitlines() if line.startswith("table ")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kubelet_runs_a_static_pod(make_wharfd: Any, tmp_path: Path) -> None:
    d = make_wharfd(with_busybox=False)
    cri.load_images(d)
    crictl = cri.Crictl(cri.unpack(tmp_path / "bin") / "crictl", d)
    subprocess.run(["sh", str(_tools() / "unpack.sh"), str(tmp_path / "bin")], check=True,
                   capture_output=True)
    manifests, root = tmp_path / "manifests", tmp_path / "root"
    manifests.mkdir()
    root.mkdir()
    (manifests / "duo.json").write_text(json.dumps(MANIFEST))
    existed = {p for p in HOST_DIRS if os.path.exists(p)}
    tables = _nft_tables()
    node = f"wharf-{os.getpid()}"
    log = open(tmp_path / "kubelet.log", "wb")
    kubelet = subprocess.Popen([
        str(tmp_path / "bin" / "kubelet"), "--container-runtime=remote",
        f"--container-runtime-endpoint=unix://{d.cri_socket}",
        f"--pod-manifest-path={manifests}", f"--root-dir={root}", f"--cert-dir={tmp_path / 'pki'}",
        "--fail-swap-on=false", "--cgroup-driver=cgroupfs", "--cgroups-per-qos=false",
        "--enforce-node-allocatable=", "--address=127.0.0.1", f"--port={_free_port()}",
        "--read-only-port=0", "--healthz-port=0", f"--hostname-override={node}",
        "--pod-infra-container-image=registry.k8s.io/pause:3.9",
        "--image-gc-high-threshold=100", "--image-gc-low-threshold=99", "--eviction-hard=",
        # no KUBE-FIREWALL: its drop of DNAT to 127.0.0.0/8 would hit every later test
        "--make-iptables-util-chains=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def client_restarted_after_talking() -> bool:
            runs = crictl.json("ps", "-a", "--name", "client")["containers"]
            return any(c["metadata"].get("attempt", 0) >= 1 and c["state"] == "CONTAINER_EXITED"
                       and "Welcome to nginx" in crictl.run("logs", c["id"]).stdout for c in runs)
        assert polling.eventually(client_restarted_after_talking, 120, 1), \
            (tmp_path / "kubelet.log").read_text()[-3000:]
        (manifests / "duo.json").unlink()

        def pod_stopped() -> bool:
            return crictl.json("pods", "--state", "ready")["items"] == [] and \
                crictl.json("ps")["containers"] == []
        assert polling.eventually(pod_stopped, 60, 1), (tmp_path / "kubelet.log").read_text()[-3000:]
    finally:
        os.killpg(kubelet.pid, signal.SIGTERM)
        kubelet.wait(30)
        log.close()
        subprocess.run(["umount", "-R", str(root)], capture_output=True)
        for pattern in (f"/var/log/pods/default_duo-{node}_*", f"/var/log/containers/duo-{node}_*"):
            for p in Path("/").glob(pattern.lstrip("/")):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        for p in HOST_DIRS:
            if p not in existed:
                shutil.rmtree(p, ignore_errors=True)
        for table in _nft_tables() - tables:  # its iptables canary chains' tables, not
            if table.split()[-1] in IPTABLES_TABLES:  # other tests' daemons' own tables
                subprocess.run(["nft", "delete", "table", *table.split()], check=True)
