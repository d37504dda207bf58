"""A pod with one container running (crictl run: runp, create, start), on wharf and on
Debian's containerd 1.6 with the reference setup of ``../shared/tools/cri``
(``containerd-reference``: overlayfs, runc, a CNI bridge), both with the critest
images and a CNI bridge + host-local + portmap network; then the memory per
running pod of what each runtime adds (its shims, PSS) with PODS pods running.
Table to bench/results/cri_pods.md.
Run as root: ``.venv/bin/python bench/cri_pods.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from engines import quiet  # noqa: E402
from support import cri  # noqa: E402
from support.daemon import Daemon  # noqa: E402
from wharf.linux import mountinfo  # noqa: E402

RESULTS = REPO / "bench" / "results"
RUNS, PODS = 10, 10
BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2"


def conflist(root: Path, bridge: str, subnet: str) -> Path:
    conf = root / "net.d"
    conf.mkdir(parents=True)
    (conf / "10-bench.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": f"bench-{bridge}", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(root / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}))
    return conf


def containerd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    ref = cri.tools_dir() / "containerd-reference"  # type: ignore[operator]
    (root / "cni").mkdir(parents=True)
    shutil.copy(conflist(root / "c", "bchctd0", "10.233.78.0/24") / "10-bench.conflist",
                root / "cni" / "10-bench.conflist")
    (root / "config.toml").write_text((ref / "config.toml").read_text().replace("@ROOT@", str(root)))
    proc = subprocess.Popen(["containerd", "--config", str(root / "config.toml")],
                            stdout=open(root / "log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    sock = root / "containerd.sock"
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.05)
    subprocess.run(["ctr", "-a", str(sock), "-n", "k8s.io", "images", "import",
                    str(cri.tools_dir() / "critest-images.oci.tar")],  # type: ignore[operator]
                   check=True, capture_output=True)
    return proc, f"unix://{sock}"


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def pids_with(word: str) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if word in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def measure(name: str, endpoint: str, tmp: Path, shim_word: str) -> dict[str, float]:
    crictl = [str(cri.unpack(tmp / "bin") / "crictl"), "--config", "/dev/null", "-r", endpoint,
              "-i", endpoint, "--timeout", "60s"]
    times = []
    for i in range(RUNS + PODS):
        pod, ctr = tmp / f"pod{i}.json", tmp / f"ctr{i}.json"
        pod.write_text(json.dumps({"metadata": {"name": f"p{i}", "namespace": "bench",
                                                "uid": secrets.token_hex(8)},
                                   "log_directory": str(tmp / "logs"), "linux": {}}))
        ctr.write_text(json.dumps({"metadata": {"name": "c"}, "image": {"image": BUSYBOX},
                                   "command": ["sleep", "3600"], "log_path": f"c{i}.log",
                                   "linux": {}}))
        quiet()
        t = time.perf_counter()
        r = subprocess.run([*crictl, "run", "--no-pull", str(ctr), str(pod)], capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            subprocess.run([*crictl, "rmp", "-a", "-f"], capture_output=True)
            raise RuntimeError(f"{name}: crictl run: {r.stderr}")
    shims = pids_with(shim_word)
    per_pod = sum(pss_kb(p) for p in shims) / (RUNS + PODS) / 1024
    subprocess.run([*crictl, "rmp", "-a", "-f"], capture_output=True)
    return {"run": statistics.median(times), "shim_mb_per_pod": per_pod, "shims": len(shims)}


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made = [p for p in ("/var/lib/cni", *(f"{c}/k8s.io" for c in
                                              map(str, Path("/sys/fs/cgroup").iterdir())))
                if not os.path.exists(p)]  # containerd's own, removed after if it made them
        proc, endpoint = containerd(root / "containerd")
        try:
            results["containerd"] = measure("containerd", endpoint, root / "ctd-run",
                                            f"-address {root / 'containerd'}")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
            subprocess.run(["ip", "link", "del", "bchctd0"], capture_output=True)
            for p in made:
                subprocess.run(["find", p, "-depth", "-type", "d", "-delete"], capture_output=True)
            for target in mountinfo.below(str(root)):
                subprocess.run(["umount", "-l", target], capture_output=True)
        d = Daemon(log_level="info", extra_args=[
            "--cni-conf-dir", str(conflist(root / "w", "bchwrf0", "10.233.79.0/24"))])
        d.start()
        try:
            cri.load_images(d)
            results["wharf"] = measure("wharf", f"unix://{d.cri_socket}", root / "wharf-run",
                                       f"wharf.shim.launcher {d.exec_root}")
        finally:
            problems = d.shutdown()
            subprocess.run(["ip", "link", "del", "bchwrf0"], capture_output=True)
        assert not problems, problems
    w, c = results["wharf"], results["containerd"]
    text = "\n".join([
        "# CRI pods: wharf and containerd 1.6.20", "",
        f"`.venv/bin/python bench/cri_pods.py`: median of {RUNS + PODS} `crictl run` (runp, create, "
        f"start of a busybox pod on a CNI bridge), then the shims' PSS per pod with "
        f"{RUNS + PODS} pods running.", "",
        "| | wharf | containerd | wharf/containerd |", "|---|---|---|---|",
        f"| crictl run (s) | {w['run']:.3f} | {c['run']:.3f} | {w['run'] / c['run']:.2f} |",
        f"| shim PSS per pod (MB) | {w['shim_mb_per_pod']:.2f} | {c['shim_mb_per_pod']:.2f} | "
        f"{w['shim_mb_per_pod'] / c['shim_mb_per_pod']:.2f} |", ""])
    (RESULTS / "cri_pods.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
