"""A cluster on one machine: an underlay bridge, hosts as network namespaces, etcd.

* ``Underlay``: a bridge ``wt<hex>`` in the test's namespace with an address
  (etcd listens there) and one namespace per host, joined by a veth, each
  with its own underlay address.
* ``Etcd``: Debian's etcd-server with a private data dir and random ports on
  the underlay address; ``stop``/``start`` keep the data.
* ``HostDaemon``: a private wharfd (``tests.support.daemon.Daemon``) run in a
  host's namespace with ``--cluster-store``/``--cluster-advertise``. It
  enters the host's network namespace and the host's mount namespace, made
  once per host (so a restarted daemon finds the namespace bind mounts of
  its running containers) and kept by a bind mount like ``ip netns`` does;
  in it a sysfs of the network namespace covers ``/sys/class/net`` and
  ``/sys/devices/virtual/net`` (``ip netns exec`` would remount all of
  ``/sys`` and hide the cgroup hierarchies).

Everything is named ``wt`` + random; ``Underlay.remove`` and ``Etcd.remove``
delete it all, and ``leftovers`` says what would have leaked.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from support.daemon import Daemon

SYSFS = ('d=$(mktemp -d) && mount -t sysfs wharftestsys "$d" && '
         'mount --bind "$d/class/net" /sys/class/net && '
         'mount --bind "$d/devices/virtual/net" /sys/devices/virtual/net && '
         'umount -l "$d" && rmdir "$d"')


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Underlay:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.bridge = f"wt{self.tag}"
        self.prefix = f"192.168.{random.randint(200, 254)}"
        self.gateway = f"{self.prefix}.1"
        self.hosts: list[str] = []
        # a private mount where the hosts' mount namespaces are kept (bind mounts of ns files)
        self.mnt = Path("/tmp") / f"wt{self.tag}mnt"
        self.mnt.mkdir()
        sh("mount", "--bind", str(self.mnt), str(self.mnt))
        sh("mount", "--make-private", str(self.mnt))
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")

    def add_host(self) -> tuple[str, str]:
        """A new namespace on the underlay: (namespace name, its address)."""
        n = len(self.hosts) + 1
        ns, veth = f"wt{self.tag}n{n}", f"wt{self.tag}v{n}"
        address = f"{self.prefix}.{10 + n}"
        sh("ip", "netns", "add", ns)
        self.hosts.append(ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", self.bridge, "up")
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        (self.mnt / ns).touch()
        sh("nsenter", f"--net=/run/netns/{ns}", "unshare", f"--mount={self.mnt / ns}",
           "--propagation", "slave", "sh", "-c", SYSFS)
        return ns, address

    def enter(self, ns: str) -> list[str]:
        """The command prefix that runs a program in host ``ns``'s namespaces."""
        return ["nsenter", f"--net=/run/netns/{ns}", f"--mount={self.mnt / ns}"]

    def remove(self) -> None:
        for ns in self.hosts:
            sh("umount", str(self.mnt / ns), check=False)
            sh("ip", "netns", "del", ns, check=False)
        sh("umount", str(self.mnt), check=False)
        shutil.rmtree(self.mnt, ignore_errors=True)
        sh("ip", "link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        found = [f"netns {ns}" for ns in self.hosts if Path(f"/run/netns/{ns}").exists()]
        if self.mnt.exists():
            found.append(f"dir {self.mnt}")
        if Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(f"link {self.bridge}")
        return found


class Etcd:
    def __init__(self, address: str) -> None:
        self.dir = Path("/tmp") / f"wtetcd{secrets.token_hex(3)}"
        self.url = f"http://{address}:{free_port()}"
        self.peer = f"http://127.0.0.1:{free_port()}"
        self.root = f"/wharf-test-{secrets.token_hex(4)}"
        self.proc: subprocess.Popen | None = None

    @property
    def store(self) -> str:
        """wharfd's ``--cluster-store`` (with the test's own key root)."""
        return "etcd://" + self.url.partition("://")[2] + self.root

    def start(self) -> None:
        self.dir.mkdir(exist_ok=True)
        log = open(self.dir / "etcd.log", "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "wt", "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer,
             "--initial-cluster", f"wt={self.peer}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.keys()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not start:\n" + (self.dir / "etcd.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
            self.proc = None

    def keys(self, prefix: str | None = None) -> list[str]:
        """Keys under ``prefix`` (default: the test's root)."""
        import base64
        raw = (prefix or self.root).encode()
        body = {"key": base64.b64encode(raw).decode(),
                "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode(),
                "keys_only": True}
        req = urllib.request.Request(f"{self.url}/v3/kv/range", json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=5) as resp:
            reply = json.load(resp)
        return [base64.b64decode(kv["key"]).decode() for kv in reply.get("kvs", [])]

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class HostDaemon(Daemon):
    """A wharfd in namespace ``ns``, member of the cluster ``etcd`` as ``address``."""

    def __init__(self, underlay: Underlay, ns: str, address: str, etcd: Etcd) -> None:
        super().__init__(prefix=underlay.enter(ns), extra_args=[
            "--cluster-store", etcd.store, "--cluster-advertise", address])
        self.ns, self.address, self.etcd = ns, address, etcd

    def links(self, prefix: str) -> list[str]:
        out = sh("ip", "-n", self.ns, "-o", "link", "show").stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
                if line.split(":")[1].strip().startswith(prefix)]
