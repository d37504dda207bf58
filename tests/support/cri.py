"""crictl and critest (cri-tools, ``../shared/tools/cri``) against a test daemon's CRI socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.commands import ok
from support.daemon import Daemon

REPO = Path(__file__).resolve().parents[2]


def tools_dir(kind: str = "cri", env: str = "WHARF_CRI_TOOLS") -> Path | None:
    """``$env``, else the repository's ``../shared/tools/<kind>``, else /work's."""
    for c in (os.environ.get(env), REPO.parent / "shared" / "tools" / kind,
              Path("/work/shared/tools") / kind):
        if c and (Path(c) / "unpack.sh").is_file():
            return Path(c)
    return None


def unpack(dest: Path) -> Path:
    """critest and crictl unpacked into ``dest`` (the shared copy is read-only)."""
    found = tools_dir()
    assert found is not None, "no cri-tools: set WHARF_CRI_TOOLS or keep ../shared/tools/cri"
    subprocess.run(["sh", str(found / "unpack.sh"), str(dest)], check=True, capture_output=True)
    return dest


def load_images(d: Daemon) -> None:
    """The critest images (an OCI layout archive) into the daemon's store."""
    found = tools_dir()
    assert found is not None
    r = d.wharf("load", "-i", str(found / "critest-images.oci.tar"), timeout=300)
    assert r.returncode == 0, r.stderr


def image_names() -> list[str]:
    """The names critest pulls the images by (``critest-image-names.txt``)."""
    found = tools_dir()
    assert found is not None
    return (found / "critest-image-names.txt").read_text().split()


def mirror_images(d: Daemon, registry: str) -> None:
    """Push every critest image to the loopback ``registry`` (host:port) as its path
    without the registry's name, and point the daemon's ``hosts.toml`` for each of
    their registries there, so pulls by the original names work offline (containerd's
    reference setup, ``containerd-reference/certs.d``)."""
    domains = set()
    for name in image_names():
        domain, path = name.split("/", 1)
        domains.add(domain)
        local = f"{registry}/{path}"
        for args in (("tag", name, local), ("push", local), ("rmi", local)):
            r = d.wharf(*args, timeout=300)
            assert r.returncode == 0, f"wharf {' '.join(args)}: {r.stderr}"
    for domain in domains:
        (d.certs_dir / domain).mkdir(parents=True, exist_ok=True)
        (d.certs_dir / domain / "hosts.toml").write_text(
            f'server = "http://{registry}"\n\n[host."http://{registry}"]\n'
            '  capabilities = ["pull", "resolve"]\n')


@dataclass
class CritestResult:
    passed: set[str] = field(default_factory=set)
    #: spec name → the failure's message
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    output: str = ""


def run_critest(d: Daemon, tmp: Path, focus: str | None = None) -> CritestResult:
    """critest against ``d``'s CRI socket, as containerd's reference setup: the critest
    images loaded and mirrored from a loopback registry (``mirror_images``); exec, attach
    and port forward over SPDY, critest's default transport (as the kubelet's)."""
    sys.path.insert(0, str(REPO / "tests" / "integration" / "registry_client"))
    from registries import wharf_registry

    load_images(d)
    registry = wharf_registry(tmp, "open")
    try:
        mirror_images(d, registry.addr)
        tools = unpack(tmp / "bin")
        endpoint = f"unix://{d.cri_socket}"
        report = tmp / "critest.xml"
        run = subprocess.run(
            [str(tools / "critest"), "--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
             "--ginkgo.junit-report", str(report),
             *(["--ginkgo.focus", focus] if focus else [])],
            capture_output=True, text=True, timeout=1800, cwd=tmp)
    finally:
        registry.stop()
    out = CritestResult(output=run.stdout[-4000:] + run.stderr[-4000:])
    assert report.exists(), out.output
    for case in ET.parse(report).iter("testcase"):
        name, status = case.get("name", ""), case.get("status")
        if status == "passed":
            out.passed.add(name)
        elif status in ("failed", "panicked"):
            failure = case.find("failure")
            out.failed[name] = (failure.get("message") if failure is not None else "")[:300]
        elif status == "skipped":
            out.skipped += 1
    return out


class Crictl:
    def __init__(self, binary: Path, d: Daemon) -> None:
        endpoint = f"unix://{d.cri_socket}"
        self.argv = [str(binary), "--config", "/dev/null", "--timeout", "60s",
                     "-r", endpoint, "-i", endpoint]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str) -> str:
        return ok(self.run(*args))

    def json(self, *args: str) -> Any:
        """``crictl CMD -o json ARGS...`` parsed (flags go before the arguments)."""
        return json.loads(self.ok(args[0], "-o", "json", *args[1:]))
