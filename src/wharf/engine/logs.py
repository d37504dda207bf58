"""``docker logs``: the container's log file, by its driver, read in a thread and
delivered on the loop.

Where each driver's file is (``log_file``): json-file's is the record's
``LogPath``, local's ``local-logs/container.log`` beside it (as Docker's);
``none`` and ``syslog`` keep nothing to read: Docker's words refuse them.
The readers (``wharf.runtime.jsonlog.read``, ``locallog.read``) are blocking
and, with follow, poll until the container stops; they run in a worker
thread that hands entries to the loop through a bounded queue, and stop
when the consumer goes away.
"""

from __future__ import annotations

import asyncio
import threading
import os
from typing import Any, AsyncIterator, Callable

from wharf.errors import InvalidParameter
from wharf.runtime import jsonlog, locallog
from wharf.runtime.logfile import Entry

_DONE = object()
_READERS = {"json-file": jsonlog.read, "local": locallog.read}


def driver(record: dict[str, Any]) -> str:
    return ((record["HostConfig"].get("LogConfig") or {}).get("Type")) or "json-file"


def log_file(record: dict[str, Any]) -> str:
    """The file the shim writes the container's log to (its driver's place)."""
    if driver(record) == "local":
        return os.path.join(os.path.dirname(record["LogPath"]), "local-logs", "container.log")
    return str(record["LogPath"])


#: the options the shim needs, per driver (the rest label records, which it does not)
_SHIM_OPTS = {"json-file": ("max-size", "max-file", "compress"),
              "local": ("max-size", "max-file", "compress"),
              "syslog": ("syslog-address", "syslog-facility", "syslog-format")}


def shim_options(record: dict[str, Any]) -> dict[str, str]:
    """The driver's options as the shim takes them (the shim options' ``log_opts``); for
    syslog with its ``tag`` resolved (moby's default ``{{.ID}}``)."""
    name = driver(record)
    opts = (record["HostConfig"].get("LogConfig") or {}).get("Config") or {}
    chosen = {k: v for k, v in opts.items() if k in _SHIM_OPTS.get(name, ())}
    if name == "syslog":
        chosen["tag"] = _tag(record, opts.get("tag") or "{{.ID}}")
    return chosen


def _tag(record: dict[str, Any], template: str) -> str:
    """A ``tag`` template's fields (moby's loggerutils.ParseLogTag, the common ones)."""
    fields = {"ID": record["Id"][:12], "FullID": record["Id"], "Name": record["Name"].lstrip("/"),
              "ImageID": record["Image"].removeprefix("sha256:")[:12],
              "ImageFullID": record["Image"], "ImageName": record["Config"].get("Image", ""),
              "DaemonName": "docker"}
    for key, value in fields.items():
        template = template.replace("{{.%s}}" % key, value)
    return template


def check_readable(record: dict[str, Any]) -> None:
    """InvalidParameter with Docker's words for a driver that keeps nothing to read."""
    if driver(record) not in _READERS:
        raise InvalidParameter("configured logging driver does not support reading")


async def read(record: dict[str, Any], tail: int | None, since_ns: int | None,
               until_ns: int | None, follow: bool,
               stopped: Callable[[], bool]) -> AsyncIterator[Entry]:
    """The container's log entries (see ``jsonlog.read``); none for a driver that
    keeps nothing to read (``check_readable`` refuses those first)."""
    reader = _READERS.get(driver(record))
    if reader is None:
        return
    path = log_file(record)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1024)
    cancelled = threading.Event()

    def put(item: object) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def worker() -> None:
        try:
            for entry in reader(path, tail=tail, since_ns=since_ns, until_ns=until_ns,
                                follow=follow, stopped=lambda: cancelled.is_set() or stopped()):
                if cancelled.is_set():
                    return
                put(entry)
        except BaseException as e:  # handed to the consumer, raised there
            if not cancelled.is_set():
                put(e)
        finally:
            if not cancelled.is_set():
                put(_DONE)

    thread = threading.Thread(target=worker, name="logs", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        cancelled.set()
        while not queue.empty():  # unblock a worker waiting on a full queue
            queue.get_nowait()
