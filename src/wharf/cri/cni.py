"""Pod networking through CNI plugins (``--cni-conf-dir``, plugins in ``--cni-bin-dir``).

A pod sandbox of a daemon with a CNI config gets a network namespace of its
own with only ``lo`` (the engine's ``none`` mode), and the first config of
the directory (``*.conflist``, ``*.conf``, ``*.json`` in name order, as the
kubelet and containerd pick it) is run on it as the CNI spec says: each
plugin of the list executed with ``CNI_COMMAND=ADD`` and its config (plus
the previous plugin's result) on stdin, in order; ``DEL`` in reverse.
Plugins that declare the ``portMappings`` capability (``portmap``) get the
pod's host ports as ``runtimeConfig``. The result (the pod IP) is kept in
``{exec_root}/cri/cni/<sandbox>.json`` until the DEL.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from wharf.errors import WharfError
from wharf.fsutil import write_json_atomic

CONFIG_SUFFIXES = (".conflist", ".conf", ".json")


class CNIError(WharfError):
    pass


def load_config(conf_dir: str) -> dict[str, Any] | None:
    """The network list the directory's first config describes; None without one."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith(CONFIG_SUFFIXES))
    except FileNotFoundError:
        return None
    for name in names:
        with open(os.path.join(conf_dir, name)) as f:
            doc = json.load(f)
        if "plugins" not in doc:  # a single plugin's .conf
            doc = {"cniVersion": doc.get("cniVersion", "0.4.0"), "name": doc.get("name", ""),
                   "plugins": [doc]}
        return doc
    return None


class Network:
    def __init__(self, conf_dir: str, bin_dir: str, state_dir: str) -> None:
        self.conf_dir, self.bin_dir, self.state_dir = conf_dir, bin_dir, state_dir

    def enabled(self) -> bool:
        return bool(self.conf_dir) and load_config(self.conf_dir) is not None

    def _state(self, sandbox_id: str) -> str:
        return os.path.join(self.state_dir, f"{sandbox_id}.json")

    def add(self, sandbox_id: str, netns: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
        """Run ADD through the list; the last result (blocking: run it in a thread)."""
        config = load_config(self.conf_dir)
        if config is None:
            raise CNIError(f"no network config found in {self.conf_dir}")
        result: dict[str, Any] | None = None
        done: list[dict[str, Any]] = []
        try:
            for plugin in config["plugins"]:
                result = self._run("ADD", config, plugin, sandbox_id, netns, ports, result)
                done.append(plugin)
        except CNIError:
            for plugin in reversed(done):
                self._run_quietly("DEL", config, plugin, sandbox_id, netns, ports)
            raise
        os.makedirs(self.state_dir, exist_ok=True)
        write_json_atomic(self._state(sandbox_id), {"config": config, "netns": netns,
                                                    "ports": ports, "result": result},
                          0o600, durable=False)
        return result or {}

    def delete(self, sandbox_id: str) -> None:
        """Run DEL through the list ADD ran (idempotent: nothing to do once done)."""
        try:
            with open(self._state(sandbox_id)) as f:
                state = json.load(f)
        except FileNotFoundError:
            return
        config = state["config"]
        for plugin in reversed(config["plugins"]):
            self._run("DEL", config, plugin, sandbox_id, state["netns"], state["ports"],
                      state["result"])
        os.unlink(self._state(sandbox_id))

    def ip(self, sandbox_id: str) -> str:
        """The pod's first IP address as ADD reported it ("" when none)."""
        try:
            with open(self._state(sandbox_id)) as f:
                result = json.load(f)["result"] or {}
        except FileNotFoundError:
            return ""
        ips = result.get("ips") or []
        return ips[0]["address"].split("/", 1)[0] if ips else ""

    def _run_quietly(self, *args: Any) -> None:
        try:
            self._run(*args)
        except CNIError:
            pass

    def _run(self, command: str, config: dict[str, Any], plugin: dict[str, Any],
             sandbox_id: str, netns: str, ports: list[dict[str, Any]],
             prev: dict[str, Any] | None) -> dict[str, Any] | None:
        conf = {**plugin, "cniVersion": config.get("cniVersion", "0.4.0"),
                "name": config.get("name", "")}
        if prev is not None:
            conf["prevResult"] = prev
        if (plugin.get("capabilities") or {}).get("portMappings") and ports:
            conf["runtimeConfig"] = {"portMappings": ports}
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_CONTAINERID": sandbox_id, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": self.bin_dir}
        binary = os.path.join(self.bin_dir, plugin["type"])
        run = subprocess.run([binary], input=json.dumps(conf).encode(), env=env,
                             capture_output=True, timeout=60)
        out = run.stdout.decode(errors="replace").strip()
        if run.returncode != 0:
            try:
                doc = json.loads(out)
                message = doc.get("msg", "") + (f": {doc['details']}" if doc.get("details") else "")
            except ValueError:
                message = out or run.stderr.decode(errors="replace").strip()
            raise CNIError(f"plugin type=\"{plugin['type']}\" failed ({command.lower()}): {message}")
        return json.loads(out) if out and command == "ADD" else prev
