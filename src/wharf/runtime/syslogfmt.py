"""Syslog messages as moby's syslog driver (srslog) words them, and its option
values: shared by the shim (which sends them) and the engine (which checks
the options at create). Standard library only.

``syslog-format`` unset: srslog's UnixFormatter ``<PRI>Mmm _d hh:mm:ss
TAG[PID]: MSG``; ``rfc3164``: the hostname after the stamp; ``rfc5424`` /
``rfc5424micro``: ``<PRI>1 TIMESTAMP HOST TAG PID TAG - MSG`` (moby's
formatter with the app name as tag). PRI is the facility (default daemon)
with severity info for stdout, err for stderr.
"""

from __future__ import annotations

import time

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2", "local3",
              "local4", "local5", "local6", "local7")
FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
_SEVERITY = {"stdout": 6, "stderr": 3}


def facility_code(name: str) -> int:
    """The facility number of a ``syslog-facility`` value (a name or 0-23; unset: daemon);
    ValueError in moby's words if neither."""
    if not name:
        return 3
    if name in FACILITIES:
        return FACILITIES.index(name)
    if name.isdigit() and 0 <= int(name) <= 23:
        return int(name)
    raise ValueError("invalid syslog facility")


class Formatter:
    """``format(stream, content, ns) -> bytes`` for one container's settings."""

    def __init__(self, fmt: str, facility: int, tag: str, hostname: str, pid: int) -> None:
        if fmt not in FORMATS:
            raise ValueError("invalid syslog format")
        self.fmt, self.facility, self.tag = fmt, facility << 3, tag
        self.hostname, self.pid = hostname, pid

    def __call__(self, stream: str, content: bytes, ns: int) -> bytes:
        pri = self.facility | _SEVERITY.get(stream, 6)
        local = time.localtime(ns // 1_000_000_000)
        if self.fmt.startswith("rfc5424"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local)
            if self.fmt == "rfc5424micro":
                stamp += f".{ns // 1000 % 1_000_000:06d}"
            zone = time.strftime("%z", local)
            stamp += "Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}"
            head = f"<{pri}>1 {stamp} {self.hostname} {self.tag} {self.pid} {self.tag} - "
        else:
            host = f" {self.hostname}" if self.fmt == "rfc3164" else ""
            head = f"<{pri}>{time.strftime('%b %e %H:%M:%S', local)}{host} {self.tag}[{self.pid}]: "
        return head.encode() + content
