"""A private wharfd for tests and benchmarks.

Every daemon gets its own data root, exec root, socket and cgroup parent, all
named ``wharf-test-<worker>-<random>``, so that parallel workers
(pytest-xdist), benchmarks and a developer's own wharfd never meet.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support.smalldisk import SmallDisk
from wharf.linux import mountinfo

BIN = Path(sys.executable).parent
DOCKER = "/usr/local/bin/docker"
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: How long a wharfd may take to answer its first ping: more in an emulated
#: guest (scripts/test-in-vm.sh), where its imports alone take many seconds.
START_TIMEOUT = float(os.environ.get("WHARF_TEST_START_TIMEOUT", "60"))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Daemon:
    """One wharfd with private roots; started and stopped by the fixtures."""

    def __init__(self, name: str | None = None, log_level: str = "debug",
                 extra_args: list[str] | None = None, prefix: list[str] | None = None,
                 data_disk_mb: int | None = None,
                 daemon_json: dict[str, Any] | None = None) -> None:
        #: benchmarks run at "info": debug logging costs the daemon time per request
        self.log_level = log_level
        #: more wharfd flags, and a command to run it under (``ip netns exec NS``)
        self.extra_args = list(extra_args or [])
        self.prefix = list(prefix or [])
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.name = name or f"wharf-test-{worker}-{secrets.token_hex(3)}"
        # Short: a shim socket at {exec_root}/containers/<64 hex>/shim.sock
        # must fit the 108 bytes of a unix socket address.
        self.base = Path("/tmp") / f"wt{secrets.token_hex(3)}"
        self.data_root = self.base / "data"
        #: with ``data_disk_mb``, the data root is a filesystem of its own of that size
        self.disk = (SmallDisk(self.base / "data.img", self.data_root, data_disk_mb)
                     if data_disk_mb else None)
        self.exec_root = self.base / "run"
        self.socket = self.exec_root / "wharf.sock"
        self.host = f"unix://{self.socket}"
        #: the CRI's gRPC socket (``--cri-socket``), private as the API's
        self.cri_socket = self.exec_root / "cri.sock"
        #: ``--certs-dir``: registries' hosts.toml, read at each pull
        self.certs_dir = self.base / "certs.d"
        self.cgroup_parent = self.name
        self.docker_config = self.base / "docker-config"
        self.proc: subprocess.Popen[bytes] | None = None
        #: Set when wharfd was found dead by ``stop``: a crash, not a leak, to report.
        self.proc_died = ""
        self.log_path = self.base / "wharfd.log"
        # Private default bridge, subnet and nftables table: never docker0's or a sibling's.
        token = secrets.token_hex(3)
        self.bridge = f"wt{token}"
        self.firewall_table = f"wharf_test_{token}"
        self.bip = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(256)}.1/24"
        #: With ``daemon_json``, wharfd gets every setting above from a daemon.json
        #: (these keys plus the private ones) and only ``--config-file`` on its command line.
        self.daemon_json = daemon_json
        self.config_file = self.base / "daemon.json"

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> None:
        for d in (self.data_root, self.exec_root, self.docker_config):
            d.mkdir(parents=True, exist_ok=True)
        if self.disk is not None:
            self.disk.mount()
        log = open(self.log_path, "ab")
        if self.daemon_json is None:
            args = ["-H", self.host, *(f"--{key}={value}" for key, value in
                                       self._private_settings().items() if key != "hosts")]
        else:
            self.write_config(self.daemon_json)
            args = ["--config-file", str(self.config_file)]
        self.proc = subprocess.Popen(
            [*self.prefix, str(BIN / "wharfd"), *args, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wharfd exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.api("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop(kill=True)  # never leave a slow daemon running behind the error
        raise RuntimeError(f"wharfd did not answer within {timeout}s:\n{self.log()}")

    def write_config(self, settings: dict[str, Any]) -> None:
        """daemon.json: ``settings`` and the private roots, socket, bridge and table."""
        self.config_file.write_text(json.dumps({**self._private_settings(), **settings}, indent=2))

    def _private_settings(self) -> dict[str, Any]:
        """What keeps this daemon apart from every other, by daemon.json key."""
        return {"hosts": [self.host], "data-root": str(self.data_root),
                "exec-root": str(self.exec_root), "cgroup-parent": self.cgroup_parent,
                "log-level": self.log_level, "bridge": self.bridge, "bip": self.bip,
                "firewall-table": self.firewall_table, "cri-socket": f"unix://{self.cri_socket}",
                "certs-dir": str(self.certs_dir)}

    def stop(self, kill: bool = False, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self.proc_died = f"exit status {self.proc.returncode} before it was stopped"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        """Stop (``kill -9`` when ``kill``) and start again on the same roots."""
        self.stop(kill=kill)
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    # -- talking to it ---------------------------------------------------
    def api(self, method: str, path: str, body: Any = None,
            params: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, Any]:
        """One request; returns (status, parsed JSON or raw bytes)."""
        from urllib.parse import urlencode
        if params:
            path += "?" + urlencode(params)
        conn = _UnixHTTPConnection(str(self.socket), timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.docker_config)}

    def wharf(self, *args: str, input: str | None = None, timeout: float = 120,
              check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the wharf CLI against this daemon."""
        return subprocess.run([str(BIN / "wharf"), *args], input=input, text=True,
                              capture_output=True, timeout=timeout, env=self.env, check=check)

    def docker(self, *args: str, input: str | None = None, timeout: float = 120,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the real docker CLI against this daemon."""
        return subprocess.run([DOCKER, *args], input=input, text=True, capture_output=True,
                              timeout=timeout, env=self.env, check=check)

    def shutdown(self, grace: float = 3) -> list[str]:
        """Remove every container, stop cleanly, report (then purge) what is left."""
        try:
            if self.proc is None:
                self.start()
            status, containers = self.api("GET", "/containers/json", params={"all": 1})
            for c in containers if status == 200 else []:
                self.api("DELETE", f"/containers/{c['Id']}", params={"force": 1, "v": 1})
        except Exception:  # a broken daemon still gets purged below
            pass
        self.stop()
        # A launcher orphaned by an earlier kill -9 exits on its own once it
        # sees EOF: give stragglers a moment before calling them leaks.
        deadline = time.monotonic() + grace
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            left.append(f"--- wharfd log tail ---\n{self.log()[-4000:]}")
            if self.proc_died:
                left.append(f"--- wharfd had died: {self.proc_died} ---")
        self.purge()
        return left

    # -- what it left behind ---------------------------------------------
    def leftovers(self) -> list[str]:
        """Kernel objects and processes of this daemon that still exist."""
        found = []
        found += [f"mount {target}" for target in mountinfo.below(str(self.base))
                  if not self._is_disk(target)]
        for ctrl in _hierarchies():
            cg = ctrl / self.cgroup_parent
            if cg.is_dir():
                try:
                    found += [f"cgroup {cg}"] + [f"cgroup {p}" for p in cg.rglob("*") if p.is_dir()]
                except FileNotFoundError:  # being removed as we look: look again next round
                    found.append(f"cgroup {cg}")
        for pid in _pids_mentioning(str(self.base)):
            found.append(f"process {pid}: {_cmdline(pid)}")
        for bridge in [self.bridge, *self._network_bridges()]:
            if Path(f"/sys/class/net/{bridge}").exists():
                found.append(f"link {bridge}")
        for family in ("ip", "ip6"):
            if subprocess.run(["nft", "list", "table", family, self.firewall_table],
                              capture_output=True).returncode == 0:
                found.append(f"nftables table {family} {self.firewall_table}")
        return found

    def _is_disk(self, target: str) -> bool:
        """The data root's own filesystem (the test's, not the daemon's doing)."""
        return self.disk is not None and target == str(self.data_root)

    def _network_bridges(self) -> list[str]:
        """Interfaces of the networks the daemon recorded (``br-<id>`` or the name option)."""
        out = []
        for path in (self.data_root / "network" / "networks").glob("*.json"):
            try:
                net = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if net.get("Driver") == "bridge":
                out.append((net.get("Options") or {}).get("com.docker.network.bridge.name")
                           or f"br-{net['Id'][:12]}")
        return out

    def purge(self) -> None:
        """Remove whatever is left, by force: processes, mounts, cgroups, files."""
        for pid in _pids_mentioning(str(self.base)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for ctrl in _hierarchies():
            cg = ctrl / self.cgroup_parent
            if cg.is_dir():
                for procs in cg.rglob("cgroup.procs"):
                    for pid in procs.read_text().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        # A paused container's SIGKILL waits for a thaw.
        for state in (CGROUP_ROOT / "freezer" / self.cgroup_parent).rglob("freezer.state"):
            state.write_text("THAWED")
        time.sleep(0.2)
        for target in mountinfo.below(str(self.base)):
            if not self._is_disk(target):
                subprocess.run(["umount", "-l", target], capture_output=True)
        if self.disk is not None:
            self.disk.unmount()
        for ctrl in _hierarchies():
            cg = ctrl / self.cgroup_parent
            if cg.is_dir():
                for d in sorted((p for p in cg.rglob("*") if p.is_dir()), reverse=True):
                    _rmdir_quiet(d)
                _rmdir_quiet(cg)
        for bridge in [self.bridge, *self._network_bridges()]:
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for family in ("ip", "ip6"):
            subprocess.run(["nft", "delete", "table", family, self.firewall_table], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _hierarchies() -> list[Path]:
    """Where a daemon's cgroup parent can be: each v1 controller's directory, and the
    root itself (the unified hierarchy of a cgroup v2 host)."""
    return [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_mentioning(text: str) -> list[int]:
    me = os.getpid()
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) != me and text in _cmdline(int(p.name))]
