"""The engines a benchmark compares, each started privately and torn down after.

wharf runs a private wharfd (tests/support/daemon.py); docker runs a private
dockerd (Debian's docker.io) on its own socket and data root, with a bridge
of the benchmark's own for its default network (so that, like wharf's, it
makes a veth per container) and no iptables changes; podman gets its own
--root/--runroot. Each gets the same busybox image, made from the host's
busybox-static, so the work per container is the same.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
SETTLE = 0.3  # seconds of quiet before each timed command
sys.path.insert(0, str(REPO / "tests"))

from support.daemon import BIN, DOCKER, Daemon  # noqa: E402


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)


def quiet(idle: float = 0.9, window: float = 0.25, limit: float = 15.0) -> None:
    """Wait until the CPUs were at least ``idle`` idle for one ``window`` (at most
    ``limit`` seconds): what the engine before left running in the background
    (containerd's cleanup after an rm -f of 64, wharf's layer purges) is not billed
    to the next engine's timed run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle:
            return


@dataclass
class Engine:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: pids whose memory counts as the engine's daemon side (for memory benches)
    daemon_pids: list[int] = field(default_factory=list)
    #: flags this engine needs on every `run` here (podman: this host's rlimits)
    run_flags: list[str] = field(default_factory=list)
    #: a word in the command line of this engine's own shims (docker: its containerd namespace)
    tag: str = ""

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*self.argv, *args], env=self.env, text=True, capture_output=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {r.stderr}")
        return r

    def timed(self, *args: str) -> float:
        """Wall seconds of one CLI command (which must succeed), on a settled machine:
        what the engine before it left running in the background (dockerd's and
        containerd's cleanup, wharf's veth deletion) is not billed to this one."""
        time.sleep(SETTLE)
        t = time.perf_counter()
        self.run(*args)
        return time.perf_counter() - t


def medians_table(path: Path, title: str, first: str, rows: list[str],
                  samples: dict[str, dict[str, list[float]]]) -> None:
    """A markdown table of medians, ``samples[engine][row]``, with wharf/docker when both ran."""
    names = list(samples)
    ratio = "docker" in names and "wharf" in names
    lines = [title, "", f"| {first} | " + " | ".join(names) + (" | wharf/docker |" if ratio else " |"),
             "|---" * (len(names) + 1 + ratio) + "|"]
    for row in rows:
        medians = {n: statistics.median(samples[n][row]) for n in names}
        line = f"| {row} | " + " | ".join(f"{medians[n]:.2f}" for n in names)
        if ratio:
            line += f" | {medians['wharf'] / medians['docker']:.2f}"
        lines.append(line + " |")
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


def busybox_tar(path: Path) -> None:
    """A busybox rootfs tarball, as `wharf image bootstrap busybox` makes it."""
    with tempfile.TemporaryDirectory() as root:
        r = Path(root)
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            (r / d).mkdir()
        shutil.copy2("/bin/busybox", r / "bin/busybox")
        applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split()
        for a in applets:
            if not (r / "bin" / a).exists():
                (r / "bin" / a).symlink_to("busybox")
        (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        (r / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
        subprocess.run(["tar", "-C", root, "-cf", str(path), "."], check=True)


@contextmanager
def wharf() -> Iterator[Engine]:
    d = Daemon(name=f"wharf-bench-{secrets.token_hex(3)}", log_level="info")
    # As installed (scripts/setup.sh): byte-compiled, so no run pays for compiling.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        d.start()
        eng = Engine("wharf", [str(BIN / "wharf")], d.env)
        eng.run("image", "bootstrap", "busybox")
        eng.daemon_pids = [d.proc.pid] if d.proc else []
        yield eng
    finally:
        left = d.shutdown()
        if left:
            print("wharf left behind:", *left, sep="\n  ", file=sys.stderr)


@contextmanager
def own_bridge(subnet_byte: int) -> Iterator[str]:
    """A bridge of the benchmark's own (10.199.N.1/24), deleted afterwards."""
    name = f"wtbb{secrets.token_hex(3)}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"10.199.{subnet_byte}.1/24", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@contextmanager
def docker(bridge: str | None = None) -> Iterator[Engine]:
    """``bridge``: an existing interface for dockerd's default network (``--bridge``);
    by default a bridge of its own."""
    if bridge is None:
        with own_bridge(250) as name, docker(name) as eng:
            yield eng
        return
    base = Path(tempfile.mkdtemp(prefix="wharf-bench-docker-"))
    sock = base / "docker.sock"
    ns = f"wharfbench{secrets.token_hex(3)}"  # containerd's grammar: no trailing '_'
    log = open(base / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
         "-H", f"unix://{sock}", "--pidfile", str(base / "docker.pid"), f"--bridge={bridge}",
         "--iptables=false", "--ip-masq=false", "--containerd-namespace", ns,
         "--containerd-plugins-namespace", ns + "-plugins"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(base / "cfg")}
    eng = Engine("docker", [DOCKER], env, [proc.pid], tag=ns)
    try:
        for _ in range(300):
            if eng.run("version", check=False).returncode == 0:
                break
            time.sleep(0.1)
        tar = base / "busybox.tar"
        busybox_tar(tar)
        eng.run("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
        eng.daemon_pids = [proc.pid] + _children(proc.pid)
        yield eng
    finally:
        eng.run("rm", "-f", *eng.run("ps", "-aq", check=False).stdout.split(), check=False)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        subprocess.run(["umount", "-R", str(base / "exec")], capture_output=True)
        subprocess.run(["umount", "-R", str(base / "data")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def podman() -> Iterator[Engine]:
    base = Path(tempfile.mkdtemp(prefix="wharf-bench-podman-"))
    argv = ["podman", "--root", str(base / "root"), "--runroot", str(base / "run"),
            "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    # Podman raises RLIMIT_NOFILE past this host's hard limit without CAP_SYS_RESOURCE.
    limits = [f"--ulimit={name}={soft}:{hard}" for name, (soft, hard) in (
        ("nofile", resource.getrlimit(resource.RLIMIT_NOFILE)),
        ("nproc", resource.getrlimit(resource.RLIMIT_NPROC)))]
    eng = Engine("podman", argv, run_flags=limits)
    try:
        tar = base / "busybox.tar"
        busybox_tar(tar)
        eng.run("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
        yield eng
    finally:
        eng.run("rm", "-af", check=False)
        eng.run("system", "reset", "-f", check=False)
        subprocess.run(["umount", "-R", str(base)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@contextmanager
def available(names: list[str]) -> Iterator[list[Engine]]:
    """Start every named engine that is installed here; skip the others."""
    makers = {"wharf": (wharf, "wharfd"), "docker": (docker, "dockerd"), "podman": (podman, "podman")}
    with ExitStack() as stack:
        engines = []
        for name in names:
            maker, binary = makers[name]
            if name != "wharf" and not shutil.which(binary):
                print(f"{name}: not installed, skipped", file=sys.stderr)
                continue
            own = ExitStack()
            eng = own.enter_context(maker())
            try:
                eng.run("run", *eng.run_flags, "--rm", "busybox", "true")
            except RuntimeError as e:
                print(f"{name}: cannot run a container on this machine, skipped:\n  {e}", file=sys.stderr)
                own.close()
                continue
            engines.append(eng)
            stack.enter_context(own)
        yield engines
