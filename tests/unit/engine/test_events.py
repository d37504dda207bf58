"""``docker events``: history with since/until, live fan-out, filters."""

import asyncio
import time

from wharf.engine.events import EventBus


async def _collect(agen, n=None, timeout=1.0):
    out = []
    try:
        async with asyncio.timeout(timeout):
            async for e in agen:
                out.append(e)
                if n and len(out) == n:
                    break
    except TimeoutError:
        pass
    return out


def test_shape_history_and_filters():
    async def main():
        bus = EventBus()
        start = time.time()
        ev = bus.publish("container", "start", "c1", {"image": "busybox", "name": "web"})
        bus.publish("image", "tag", "sha256:x", {"name": "busybox:latest"})
        bus.publish("container", "die", "c2", {"image": "alpine", "name": "db", "exitCode": "1"})
        assert ev["status"] == "start" and ev["id"] == "c1" and ev["from"] == "busybox"
        assert ev["Actor"] == {"ID": "c1", "Attributes": {"image": "busybox", "name": "web"}}
        assert ev["scope"] == "local" and ev["timeNano"] // 10**9 == ev["time"]
        until = time.time() + 0.05
        past = await _collect(bus.subscribe(start - 1, until))
        assert [e["Action"] for e in past] == ["start", "tag", "die"]
        only = await _collect(bus.subscribe(start - 1, until, {"type": ["container"],
                                                               "container": ["db"]}))
        assert [e["Actor"]["ID"] for e in only] == ["c2"]
        by_image = await _collect(bus.subscribe(start - 1, until, {"image": ["busybox"]}))
        assert [e["Action"] for e in by_image] == ["start"]

    asyncio.run(main())


def test_live_events_reach_every_subscriber():
    async def main():
        bus = EventBus()
        a = asyncio.ensure_future(_collect(bus.subscribe(), n=1))
        b = asyncio.ensure_future(_collect(bus.subscribe(filters={"event": ["die"]}), n=1))
        await asyncio.sleep(0.01)
        bus.publish("container", "start", "c1", {})
        bus.publish("container", "die", "c1", {})
        assert [e["Action"] for e in await a] == ["start"]
        assert [e["Action"] for e in await b] == ["die"]

    asyncio.run(main())
