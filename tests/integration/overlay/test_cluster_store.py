"""The cluster store against a real etcd (loopback): CAS allocation, leases, watch."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network

import pytest

from overlaylab import Etcd
from wharf.cluster.etcd import EtcdClient, StoreUnavailable
from wharf.cluster.store import ClusterStore


@pytest.fixture
def etcd():
    e = Etcd("127.0.0.1")
    e.start()
    try:
        yield e
    finally:
        left = e.keys()
        e.remove()
    assert not left, left


def _stores(etcd: Etcd, n: int) -> list[ClusterStore]:
    return [ClusterStore(EtcdClient([etcd.url]), etcd.root, f"node{i}") for i in range(n)]


async def _close(stores: list[ClusterStore]) -> None:
    for s in stores:
        await s.etcd.delete(s.root, prefix=True)
        await s.etcd.close()


def test_concurrent_hosts_never_share_an_address_vni_or_subnet(etcd) -> None:
    async def main() -> None:
        stores = _stores(etcd, 3)
        try:
            subnet = ip_network("10.9.0.0/26")
            got = await asyncio.gather(*(s.allocate("net", subnet, f"ep-{s.node}-{i}")
                                         for i in range(15) for s in stores))
            assert len(set(got)) == len(got) == 45
            nets = [{"Id": f"id{i}", "Name": f"n{i}"} for i in range(3)]
            made = await asyncio.gather(*(s.create_network(n, None, None)
                                          for s, n in zip(stores, nets)))
            assert len({vni for vni, _, _ in made}) == 3
            assert len({str(sub) for _, sub, _ in made}) == 3
            with pytest.raises(Exception, match="already exists"):
                await stores[1].create_network({"Id": "other", "Name": "n0"}, None, None)
            with pytest.raises(Exception, match="already in use"):
                await stores[2].allocate("net", subnet, "x", got[0])
            # an address goes back to the pool
            await stores[0].release("net", got[0])
            assert await stores[2].allocate("net", subnet, "x", got[0]) == got[0]
        finally:
            await _close(stores)

    asyncio.run(main())


def test_endpoints_vanish_with_the_lease_and_the_watch_sees_it(etcd) -> None:
    async def main() -> None:
        a, b = _stores(etcd, 2)
        try:
            await a.register("192.0.2.1", "a")
            await a.publish("net", "ep1", {"ip": "10.0.0.2"})
            state, rev = await b.snapshot()
            assert "endpoints/net/ep1" in state and "hosts/node0" in state
            events = []

            async def follow() -> None:
                async for ev in b.etcd.watch(b.root, rev + 1):
                    events.append((ev.deleted, ev.kv.key[len(b.root):]))
                    if len(events) == 2:
                        return

            watching = asyncio.create_task(follow())
            await asyncio.sleep(0.2)
            await a.leave()  # revoking the lease deletes both keys
            await asyncio.wait_for(watching, 10)
            assert sorted(events) == [(True, "endpoints/net/ep1"), (True, "hosts/node0")]
        finally:
            await _close([a, b])

    asyncio.run(main())


def test_unreachable_store_is_a_clear_503() -> None:
    async def main() -> None:
        client = EtcdClient(["http://127.0.0.1:9"])
        try:
            with pytest.raises(StoreUnavailable, match="cluster store unreachable") as err:
                await client.get_prefix("/x")
            assert err.value.status == 503
        finally:
            await client.close()

    asyncio.run(main())
