"""A small etcd v3 client over the JSON gateway (``/v3/kv/*``, ``/v3/lease/*``, ``/v3/watch``).

Why not gRPC: the gateway ships with every etcd since 3.3, speaks plain
HTTP/JSON (keys and values base64) and needs nothing but aiohttp, which the
daemon already has. Several endpoints may be given: a request goes to the
first that answers. Any transport failure becomes ``StoreUnavailable``
(HTTP 503 through the API) so callers can say clearly that the cluster store
is unreachable, while what already runs keeps running.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp

from wharf.errors import Unavailable

#: Seconds for one unary request (the store must answer fast or be called down).
REQUEST_TIMEOUT = 5.0


class StoreUnavailable(Unavailable):
    """No endpoint of the cluster store answered."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class Event:
    """One change from a watch: ``deleted`` or a put of ``kv``."""

    deleted: bool
    kv: KeyValue


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def prefix_end(prefix: str) -> str:
    """etcd's ``range_end`` for every key starting with ``prefix`` (last byte + 1)."""
    raw = prefix.encode()
    return _b64(raw[:-1] + bytes([raw[-1] + 1]))


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(base64.b64decode(raw["key"]).decode(),
                    base64.b64decode(raw.get("value", "")),
                    int(raw.get("mod_revision", 0)), int(raw.get("lease", 0)))


def parse_endpoints(url: str) -> list[str]:
    """``etcd://h1:2379,h2:2379`` (wharfd's ``--cluster-store``) to gateway base URLs."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "etcd" or not rest.strip(","):
        raise ValueError(f"invalid cluster store {url!r}: use etcd://host:port[,host:port...]")
    return [f"http://{hostport.strip()}" for hostport in rest.split(",") if hostport.strip()]


class EtcdClient:
    """Unary calls and watches against the first reachable endpoint."""

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``; the decoded reply (a gateway error raises)."""
        last: Exception | None = None
        for base in self.endpoints:
            try:
                async with self._http().post(
                        f"{base}/v3/{path}", json=body,
                        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as resp:
                    reply = await resp.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                last = e
                continue
            if resp.status != 200 or "error" in (reply or {}):
                raise StoreUnavailable(f"cluster store: {reply.get('message') or reply}")
            return reply or {}
        raise StoreUnavailable(f"cluster store unreachable ({', '.join(self.endpoints)}): "
                               f"{last}")

    # -- keys ------------------------------------------------------------------
    async def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store's revision at that moment."""
        reply = await self.call("kv/range", {"key": _b64(prefix), "range_end": prefix_end(prefix)})
        return [_kv(kv) for kv in reply.get("kvs", [])], int(reply["header"]["revision"])

    async def get(self, key: str) -> KeyValue | None:
        reply = await self.call("kv/range", {"key": _b64(key)})
        kvs = reply.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    async def put(self, key: str, value: bytes | str, lease: int = 0) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        await self.call("kv/put", body)

    async def delete(self, key: str, prefix: bool = False) -> None:
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = prefix_end(key)
        await self.call("kv/deleterange", body)

    async def create(self, key: str, value: bytes | str, lease: int = 0) -> bool:
        """Put ``key`` only if it does not exist (a compare-and-swap); whether it was made."""
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        reply = await self.call("kv/txn", {
            "compare": [{"key": _b64(key), "target": "CREATE", "result": "EQUAL",
                         "create_revision": "0"}],
            "success": [{"request_put": put}]})
        return bool(reply.get("succeeded"))

    # -- leases ----------------------------------------------------------------
    async def grant(self, ttl: int) -> int:
        return int((await self.call("lease/grant", {"TTL": str(ttl)}))["ID"])

    async def keepalive(self, lease: int) -> int:
        """Refresh ``lease``; its remaining TTL (0: it expired, keys under it are gone)."""
        reply = await self.call("lease/keepalive", {"ID": str(lease)})
        return int((reply.get("result") or reply).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        await self.call("lease/revoke", {"ID": str(lease)})

    # -- watch -----------------------------------------------------------------
    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Event]:
        """Changes under ``prefix`` from ``start_revision`` on, until the stream breaks
        (``StoreUnavailable``): the caller re-lists and watches again."""
        body = {"create_request": {"key": _b64(prefix), "range_end": prefix_end(prefix),
                                   "start_revision": str(start_revision)}}
        last: Exception | None = None
        for base in self.endpoints:
            try:
                async with self._http().post(
                        f"{base}/v3/watch", json=body,
                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT)
                ) as resp:
                    async for line in resp.content:
                        if not line.strip():
                            continue
                        result = json.loads(line).get("result") or {}
                        for ev in result.get("events", []):
                            yield Event(ev.get("type") == "DELETE", _kv(ev["kv"]))
                return
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                last = e
        raise StoreUnavailable(f"cluster store watch broke: {last}")
