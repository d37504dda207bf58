"""Container routes of the Engine API (``docker create/start/stop/ps/logs/...``)."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from typing import Any

from aiohttp import web

from wharf.api import params, versions
from wharf.api.params import boolean, integer, json_body, json_response
from wharf.api.streams import Hijacked, end_with_client, hijack
from wharf.engine import filters as flt
from wharf.engine import logs as logreader
from wharf.engine import detachkeys, observe, shims
from wharf.engine.containers import LIST_FILTERS
from wharf.engine.distribution import parse_platform
from wharf.engine.timefmt import timestamp_ns
from wharf.errors import Conflict, InvalidParameter, NotFound
from wharf.shim.frames import Output, frame

routes = web.RouteTableDef()
STREAMS = {"stdout": 1, "stderr": 2}


def _services(request: web.Request) -> Any:
    return params.engine(request).containers


def _ref(request: web.Request) -> str:
    return request.match_info["id"]


def _no_content() -> web.Response:
    return web.Response(status=204)


#: a mount type → the one options field it may carry (API 1.42 refuses the others)
_MOUNT_OPTIONS = {"bind": "BindOptions", "volume": "VolumeOptions", "tmpfs": "TmpfsOptions"}


def _as_of_version(request: web.Request, host_config: dict[str, Any]) -> None:
    """A create's HostConfig as the request's API version defines it (dockerd's
    postContainersCreate): before 1.42 options that do not fit a mount's type,
    BindOptions.CreateMountpoint and ConsoleSize are ignored; from 1.42 such
    options are refused and KernelMemory ignored; Annotations exist from 1.43. Image
    mounts (1.48) and ReadOnlyForceRecursive (1.44) are newer than any version served."""
    mounts = [m for m in host_config.get("Mounts") or [] if isinstance(m, dict)]
    if versions.at_least(request, "1.42"):
        host_config.pop("KernelMemory", None)
        for m in mounts:
            for kind, options in _MOUNT_OPTIONS.items():
                if m.get(options) is not None and m.get("Type") != kind:
                    raise InvalidParameter(f'{options} must not be specified on mount type "{m.get("Type")}"')
    else:
        host_config.pop("ConsoleSize", None)
        for m in mounts:
            for kind, options in _MOUNT_OPTIONS.items():
                if kind != "bind" and m.get("Type") != kind:
                    m.pop(options, None)
            if isinstance(m.get("BindOptions"), dict):
                m["BindOptions"].pop("CreateMountpoint", None)
    if not versions.at_least(request, "1.43"):
        host_config.pop("Annotations", None)
    host_config.pop("IDMapping", None)  # the engine's, for the CRI: no API version has it
    for m in mounts:  # the engine's shapes of later APIs (the CRI's): unknown to 1.43
        if m.get("Type") == "image":
            raise InvalidParameter('invalid mount config for type "image": mount type unknown')
        if isinstance(m.get("BindOptions"), dict):
            m["BindOptions"].pop("ReadOnlyForceRecursive", None)


@routes.post("/containers/create")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if isinstance(body, dict) and isinstance(body.get("HostConfig"), dict):
        _as_of_version(request, body["HostConfig"])
    wanted = parse_platform(request.query.get("platform", ""))
    if wanted and isinstance(body, dict) and isinstance(body.get("Image"), str) and body["Image"]:
        await params.engine(request).images.get_for_platform(body["Image"], wanted)
    result = await _services(request).create(body, request.query.get("name") or None)
    return json_response(result, status=201)


@routes.get("/containers/json")
async def list_containers(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), LIST_FILTERS)
    return json_response(await _services(request).list(
        all=boolean(request, "all"), limit=integer(request, "limit"),
        size=boolean(request, "size"), filters=filters))


@routes.post("/containers/prune")
async def prune(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), ("until", "label", "label!"))
    return json_response(await _services(request).prune(filters))


@routes.get("/containers/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    return json_response(await _services(request).inspect(_ref(request), boolean(request, "size")))


def _plain(action: str) -> None:
    """``POST /containers/{id}/<action>`` with no arguments: 204 when done."""
    async def handler(request: web.Request) -> web.Response:
        await getattr(_services(request), action)(_ref(request))
        return _no_content()
    routes.post(f"/containers/{{id}}/{action}")(handler)


for _action in ("start", "pause", "unpause"):
    _plain(_action)


@routes.post("/containers/{id}/update")
async def update(request: web.Request) -> web.Response:
    return json_response(await _services(request).update(_ref(request), await json_body(request)))


@routes.post("/containers/{id}/stop")
async def stop(request: web.Request) -> web.Response:
    await _services(request).stop(_ref(request), integer(request, "t"), request.query.get("signal"))
    return _no_content()


@routes.post("/containers/{id}/restart")
async def restart(request: web.Request) -> web.Response:
    await _services(request).restart(_ref(request), integer(request, "t"),
                                     request.query.get("signal"))
    return _no_content()


@routes.post("/containers/{id}/kill")
async def kill(request: web.Request) -> web.Response:
    await _services(request).kill(_ref(request), request.query.get("signal"))
    return _no_content()


@routes.post("/containers/{id}/rename")
async def rename(request: web.Request) -> web.Response:
    await _services(request).rename(_ref(request), request.query.get("name", ""))
    return _no_content()


@routes.delete("/containers/{id}")
async def remove(request: web.Request) -> web.Response:
    await _services(request).remove(_ref(request), force=boolean(request, "force"),
                                    volumes=boolean(request, "v"))
    return _no_content()


@routes.delete("/containers/{parent}/{alias}")
async def remove_link(request: web.Request) -> web.Response:
    """A name with a slash is a legacy link's (``parent/alias``): ``link=1`` removes it."""
    name = f"{request.match_info['parent']}/{request.match_info['alias']}"
    if not boolean(request, "link"):
        raise NotFound(f"No such container: {name}")
    await _services(request).remove_link(name)
    return _no_content()


@routes.post("/containers/{id}/wait")
async def wait(request: web.Request) -> web.StreamResponse:
    """Headers go out at once (``docker run`` waits for them before starting)."""
    service = _services(request)
    condition = request.query.get("condition", "not-running")
    waiting = asyncio.ensure_future(service.wait(_ref(request), condition))
    await asyncio.sleep(0)
    if waiting.done():
        return json_response(waiting.result())  # errors (404, 400) as a normal answer
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    end_with_client(request)
    try:
        result = await waiting
        await response.write(json.dumps(result).encode() + b"\n")
    except ConnectionError:
        pass  # the client gave up waiting
    finally:
        waiting.cancel()
    return response


@routes.post("/containers/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    c = _services(request).get(_ref(request))
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    await shims.call(_services(request).bundle(c), {
        "op": "resize", "height": integer(request, "h", 0), "width": integer(request, "w", 0)})
    return web.Response(status=200)


def _log_window(request: web.Request) -> tuple[int | None, int | None, int | None]:
    tail_arg = request.query.get("tail", "all")
    try:
        tail = None if tail_arg in ("all", "") else int(tail_arg)
        since = timestamp_ns(request.query["since"]) if request.query.get("since") not in (None, "", "0") else None
        until = timestamp_ns(request.query["until"]) if request.query.get("until") not in (None, "", "0") else None
    except ValueError as e:
        raise InvalidParameter(str(e)) from None
    return tail, since, until


def _encode(stream: str, data: bytes, stamp: str, tty: bool, timestamps: bool) -> bytes:
    payload = (stamp.encode() + b" " + data) if timestamps else data
    return payload if tty else frame(STREAMS.get(stream, 1), payload)


@routes.get("/containers/{id}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    service = _services(request)
    c = service.get(_ref(request))
    wanted = {s for s in STREAMS if boolean(request, s)}
    if not wanted:
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    tail, since, until = _log_window(request)
    logreader.check_readable(c.record)
    tty = bool(c.config.get("Tty"))
    follow, timestamps = boolean(request, "follow"), boolean(request, "timestamps")
    response = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"
                                           if tty else "application/vnd.docker.multiplexed-stream"})
    await service.flush_log(c)
    await response.prepare(request)
    end_with_client(request)  # a follower's reader thread ends with its client, not at the stop
    try:
        async with aclosing(logreader.read(c.record, tail, since, until, follow,
                                           stopped=lambda: not c.state["Running"])) as entries:
            async for entry in entries:
                if entry.stream in wanted:
                    await response.write(_encode(entry.stream, entry.data, entry.time, tty, timestamps))
    except ConnectionError:
        pass
    return response


async def _pump_stdin(client: Hijacked, writer: asyncio.StreamWriter, close_on_eof: bool,
                      escape: detachkeys.EscapeFilter | None) -> bool:
    """Client bytes to the shim; a client half-close is stdin EOF. True when the
    client typed the detach keys (then stdin is left open, as dockerd leaves it)."""
    while data := await client.read():
        detached = False
        if escape is not None:
            data, detached = escape.feed(data)
        writer.write(data)
        await writer.drain()
        if detached:
            return True
    if close_on_eof and writer.can_write_eof():
        writer.write_eof()
    return False


async def _copy_out(client: Hijacked, reader: asyncio.StreamReader,
                    tty: bool) -> dict[str, Any] | None:
    """Shim frames to the client (raw with a tty) until the stream's closing control
    message (returned) or the client going away (None)."""
    out = Output(reader)
    async for stream, payload in out:
        await client.write(payload if tty else frame(stream, payload))
        if client.closed:
            break
    return out.control


async def relay(client: Hijacked, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                tty: bool, stdin: bool, close_stdin_on_eof: bool = True,
                detach_keys: bytes | None = None) -> tuple[dict[str, Any] | None, bool]:
    """Shim frames to the client and client stdin to the shim, until the shim ends
    the stream (its closing control message), the client goes away (None; the shim
    stream is left open to the caller) or, with a tty, the client types the detach
    keys (None, True: the process keeps running, the stream ends)."""
    out = asyncio.ensure_future(_copy_out(client, reader, tty))
    if not stdin:
        return await out, False
    escape = detachkeys.EscapeFilter(detach_keys or detachkeys.DEFAULT) if tty else None
    pump = asyncio.ensure_future(_pump_stdin(client, writer, close_stdin_on_eof, escape))
    try:
        await asyncio.wait((out, pump), return_when=asyncio.FIRST_COMPLETED)
        if pump.done() and pump.result():
            out.cancel()
            return None, True
        return await out, False
    finally:
        for task in (out, pump):
            task.cancel()


def _detach_keys(keys: str | None) -> bytes | None:
    """The bytes of a ``detachKeys`` argument (None when not given); 400 in dockerd's
    words when it names an unknown key."""
    if not keys:
        return None
    try:
        return detachkeys.parse(keys)
    except ValueError:
        raise InvalidParameter(f"Invalid detach keys ({keys}) provided") from None


async def _replay(client: Hijacked, record: dict[str, Any], wanted: set[str], tty: bool,
                  since_ns: int | None = None) -> None:
    async for entry in logreader.read(record, None, since_ns, None, False, stopped=lambda: True):
        if entry.stream in wanted:
            await client.write(_encode(entry.stream, entry.data, entry.time, tty, False))


@routes.post("/containers/{id}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    service = _services(request)
    c = service.get(_ref(request))
    want_stdin = boolean(request, "stdin")
    wanted = {s for s in STREAMS if boolean(request, s)}
    tty = bool(c.config.get("Tty"))
    stream, with_logs = boolean(request, "stream"), boolean(request, "logs")
    keys = _detach_keys(request.query.get("detachKeys"))
    if stream and not c.running and c.state["StartedAt"][:4] != "0001" and not with_logs:
        raise Conflict("You cannot attach to a stopped container, start it first")
    started = c.waiter("start")
    c.attach_opened()
    try:
        client = await hijack(request, multiplexed=not tty)
        params.engine(request).events.publish("container", "attach", c.id, c.event_attributes())
        if with_logs:
            await _replay(client, c.record, wanted, tty)
        if stream:
            if not c.running:
                await started
            since = c.private.get("LaunchedAt")
            try:
                reader, writer, answer = await shims.open_request(service.bundle(c), {
                    "op": "attach", "stdin": want_stdin, "stdout": "stdout" in wanted,
                    "stderr": "stderr" in wanted})
            except OSError:  # it already exited and its shim is gone: the log has it all
                await _replay(client, c.record, wanted, tty, since)
            else:
                if "error" in answer:  # it exited and its output is all in the log
                    writer.close()
                    await _replay(client, c.record, wanted, tty, since)
                else:
                    _, detached = await relay(client, reader, writer, tty, want_stdin,
                                              bool(c.config.get("StdinOnce")), keys)
                    writer.close()
                    if detached:
                        params.engine(request).events.publish("container", "detach", c.id,
                                                              c.event_attributes())
    finally:
        c.attach_closed()
        started.cancel()
    return client.response


@routes.get("/containers/{id}/top")
async def top(request: web.Request) -> web.Response:
    service = _services(request)
    c = service.get(_ref(request))
    return json_response(await observe.top(c, service.cgroups_path(c),
                                           request.query.get("ps_args", "")))


@routes.get("/containers/{id}/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    service = _services(request)
    c = service.get(_ref(request))
    stream = boolean(request, "stream", True)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    end_with_client(request)
    try:
        async with aclosing(observe.stats(c, service.cgroups_path(c), stream,
                                          boolean(request, "one-shot"))) as samples:
            async for sample in samples:
                await response.write(json.dumps(sample).encode() + b"\n")
    except ConnectionError:
        pass
    return response
