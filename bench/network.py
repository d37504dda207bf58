"""Networking: wharf's bridge and published ports against docker and hand-made namespaces.

Scenarios:

* ``run --rm busybox true`` on the default bridge (a namespace, a veth, an
  address, the /etc files, and all of it undone) for wharf and for a private
  dockerd given its own bridge (``--bridge``, no iptables), N times each.
* Container-to-container TCP throughput over a wharf user-defined bridge,
  against the same transfer between two namespaces joined by hand to a bridge
  (``ip netns``, veths): the same busybox httpd and ``nc`` on both, so the
  gap is what wharf adds to the kernel's path (the goal: nothing, within 10%).
  busybox ``nc`` itself bounds the rate; it is the same bound on both sides.
* Published-port throughput: the host downloads from 127.0.0.1:port (a
  container's httpd): wharf (DNAT; its proxy is the fallback) vs docker's
  docker-proxy (its only path with iptables off).

Writes bench/results/network.md. Run as root: ``.venv/bin/python bench/network.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import socket
import statistics
import subprocess
import time
from pathlib import Path

import engines
from engines import Engine

RESULTS = Path(__file__).resolve().parent / "results"
PORT = 5000


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=True)


def run_rm(engs: list[Engine], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {e.name: [] for e in engs}
    for e in engs:
        e.run("run", "--rm", "busybox", "true")  # warm caches
    for _ in range(runs):
        for e in engs:
            t = time.perf_counter()
            e.run("run", "--rm", "busybox", "true")
            samples[e.name].append(time.perf_counter() - t)
    return samples


def _serve_script(mib: int, path: str) -> str:
    """A file of ``mib`` MiB served by busybox httpd on port 80 (in the foreground)."""
    return (f"dd if=/dev/zero of={path}/big bs=1M count={mib} 2>/dev/null && "
            f"exec httpd -f -p {PORT} -h {path}")


def _fetch_script(target: str) -> str:
    """GET /big with busybox nc, timed by busybox ``time`` (same tool on both sides)."""
    return (f"time sh -c \"printf 'GET /big HTTP/1.0\\r\\n\\r\\n' | nc {target} {PORT} "
            ">/dev/null\"")


def _seconds(time_output: str) -> float:
    """busybox ``time``: ``real\t0m 1.23s``."""
    words = next(ln for ln in time_output.splitlines() if ln.startswith("real")).split()
    return int(words[1].rstrip("m")) * 60 + float(words[2].rstrip("s"))


def wharf_bridge_throughput(wharf: Engine, mib: int, rounds: int) -> list[float]:
    """MiB/s from one container to another over a user-defined wharf network."""
    net = f"wtbn{secrets.token_hex(3)}"
    wharf.run("network", "create", "--subnet", "10.199.250.0/24", net)
    server, client = f"{net}-s", f"{net}-c"
    try:
        wharf.run("run", "-d", "--name", server, "--network", net, "--shm-size", f"{mib + 64}m",
                  "busybox", "sh", "-c", _serve_script(mib, "/dev/shm"))
        wharf.run("run", "-d", "--name", client, "--network", net, "busybox", "sleep", "600")
        time.sleep(2)
        return [mib / _seconds(wharf.run("exec", client, "sh", "-c",
                                         _fetch_script(server)).stderr)
                for _ in range(rounds)]
    finally:
        wharf.run("rm", "-f", server, client, check=False)
        wharf.run("network", "rm", net, check=False)


def handmade_throughput(mib: int, rounds: int) -> list[float]:
    """The same transfer between two namespaces joined to a bridge by hand."""
    tag = secrets.token_hex(3)
    spaces = [f"wtbns{tag}{i}" for i in range(2)]
    www = Path(f"/dev/shm/wtbench{tag}")
    server = None
    with engines.own_bridge(251) as br:
        try:
            for i, ns in enumerate(spaces):
                host_end = f"wtbv{tag}{i}"
                sh("ip", "netns", "add", ns)
                sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
                   "netns", ns)
                sh("ip", "link", "set", host_end, "master", br, "up")
                sh("ip", "-n", ns, "addr", "add", f"10.199.251.{10 + i}/24", "dev", "eth0")
                sh("ip", "-n", ns, "link", "set", "eth0", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            www.mkdir()
            server = subprocess.Popen(["ip", "netns", "exec", spaces[1], "/bin/busybox", "sh",
                                       "-c", _serve_script(mib, str(www))])
            time.sleep(2)
            return [mib / _seconds(sh("ip", "netns", "exec", spaces[0], "/bin/busybox", "sh",
                                      "-c", _fetch_script("10.199.251.11")).stderr)
                    for _ in range(rounds)]
        finally:
            if server is not None:
                server.kill()
                server.wait()
            for ns in spaces:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["rm", "-rf", str(www)])


def published_throughput(eng: Engine, mib: int, rounds: int) -> list[float]:
    """MiB/s of GET /big from the host to 127.0.0.1:<published port> (the container's httpd)."""
    cid = eng.run("run", "-d", "-p", f"127.0.0.1::{PORT}", "--shm-size", f"{mib + 64}m",
                  "busybox", "sh", "-c", _serve_script(mib, "/dev/shm")).stdout.strip()
    try:
        host_port = int(eng.run("port", cid, str(PORT)).stdout.split(":")[-1])
        time.sleep(2)
        rates = []
        for _ in range(rounds):
            t = time.perf_counter()
            with socket.create_connection(("127.0.0.1", host_port), timeout=30) as s:
                s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
                while s.recv(1 << 20):
                    pass
            rates.append(mib / (time.perf_counter() - t))
        return rates
    finally:
        eng.run("rm", "-f", cid, check=False)


def table(title: str, unit: str, data: dict[str, list[float]], base: str,
          lower_is_better: bool) -> str:
    ref = statistics.median(data[base])
    rows = [f"### {title}", "", f"| what | median ({unit}) | min | max | n | vs {base} |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, xs in data.items():
        med = statistics.median(xs)
        ratio = med / ref
        rows.append(f"| {name} | {med:.3f} | {min(xs):.3f} | {max(xs):.3f} | {len(xs)} | "
                    f"{'' if name == base else f'{ratio:.3f}'} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    out = ["# Network benchmarks", ""]
    with contextlib.ExitStack() as stack:
        wharf = stack.enter_context(engines.wharf())
        engs = [wharf]
        try:
            engs.append(stack.enter_context(engines.docker()))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            print(f"docker skipped: {e}")
        out.append(table("run --rm busybox true on the default bridge", "s",
                         run_rm(engs, a.runs), "wharf", True))
        out.append(table(f"container to container TCP, {a.mib} MiB over a bridge", "MiB/s",
                         {"wharf network": wharf_bridge_throughput(wharf, a.mib, a.rounds),
                          "hand-made netns": handmade_throughput(a.mib, a.rounds)},
                         "hand-made netns", False))
        out.append(table(f"published port from 127.0.0.1, {a.mib} MiB", "MiB/s",
                         {e.name: published_throughput(e, a.mib, a.rounds) for e in engs},
                         "wharf", False))
    RESULTS.mkdir(exist_ok=True)
    text = "\n".join(out)
    (RESULTS / "network.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
