"""``overlay_cluster``: etcd and three wharfd hosts on an underlay, all removed afterwards.

The fixture asserts that nothing was left: no host namespace, underlay
link, daemon leftover (mounts, cgroups, processes), and no etcd key under
the test's root once the networks are gone.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from overlaylab import Etcd, HostDaemon, Underlay


class Cluster:
    def __init__(self, hosts: int) -> None:
        self.underlay = Underlay()
        self.etcd = Etcd(self.underlay.gateway)
        self.hosts: list[HostDaemon] = []
        self.etcd.start()
        for _ in range(hosts):
            ns, address = self.underlay.add_host()
            host = HostDaemon(self.underlay, ns, address, self.etcd)
            self.hosts.append(host)
            host.start()
            r = host.wharf("image", "bootstrap", "busybox")
            assert r.returncode == 0, r.stderr

    def teardown(self) -> list[str]:
        problems = []
        if self.etcd.proc is None:
            self.etcd.start()
        for host in self.hosts:
            if host.proc is None:
                host.start()
            for c in host.api("GET", "/containers/json", params={"all": 1})[1] or []:
                host.api("DELETE", f"/containers/{c['Id']}", params={"force": 1})
        for host in self.hosts:
            overlays = host.api("GET", "/networks", params={"filters": '{"driver":["overlay"]}'})
            for net in overlays[1]:
                host.api("DELETE", f"/networks/{net['Id']}")
        for host in self.hosts:
            problems += [f"{host.ns}: {link}" for link in host.links("wvx") + host.links("wov")]
            problems += host.shutdown(grace=10)  # a loaded machine: the launcher sees EOF late
        problems += [f"etcd key {k}" for k in self.etcd.keys()]
        self.etcd.remove()
        self.underlay.remove()
        return problems + self.underlay.leftovers()


@pytest.fixture
def overlay_cluster() -> Iterator[Cluster]:
    c = Cluster(3)
    try:
        yield c
    finally:
        problems = c.teardown()
        assert not problems, "leaked:\n" + "\n".join(problems)
