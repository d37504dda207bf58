"""A container's LogConfig at create: the daemon's default merged in, then
checked with dockerd's rules and words (moby ``daemon/logs.go``,
``daemon/logger/factory.go``), so a driver or option the shim cannot honour
is refused before anything is made.

The drivers are the shim's (``wharf.runtime.jsonlog`` writes json-file,
``wharf.runtime.locallog`` local, ``wharf.shim.syslog`` sends syslog;
``none`` writes nothing); one it does not
have is "not registered", as in a dockerd without it.
"""

from __future__ import annotations

import os
from typing import Any

from wharf.errors import InvalidParameter
from wharf.runtime import jsonlog, locallog, syslogfmt
from wharf.strconv import invalid_bool, parse_bool

#: log driver → the options it takes (besides the common ones below); ``none`` takes any
LOG_DRIVERS: dict[str, tuple[str, ...]] = {
    "json-file": ("max-file", "max-size", "compress"),
    "local": ("max-file", "max-size", "compress"),
    "none": (),
    "syslog": ("syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
               "syslog-tls-key", "syslog-tls-skip-verify", "syslog-format"),
}
#: options every driver takes (logger.Attr*: they label the records)
COMMON_OPTS = ("env", "env-regex", "labels", "labels-regex", "tag", "mode", "max-buffer-size")
#: how each driver words an option it does not know
_UNKNOWN_OPT = {"local": "unknown log opt '{key}' for log driver local"}


def validate(driver: str, opts: dict[str, str]) -> None:
    """dockerd's ValidateLogOpts, and the checks of the file drivers' New (at create
    here rather than at start: the shim could not refuse them in words)."""
    if driver == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts and mode != "non-blocking":
        raise InvalidParameter("logger: max-buffer-size option is only supported with "
                               "'mode=non-blocking'")
    if driver not in LOG_DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    for key in opts:
        if key not in LOG_DRIVERS[driver] and key not in COMMON_OPTS:
            words = _UNKNOWN_OPT.get(driver, "unknown log opt '{key}' for {driver} log driver")
            raise InvalidParameter(words.format(key=key, driver=driver))
    if driver == "json-file":
        _json_file_values(opts)
    elif driver == "local":
        _local_values(opts)
    elif driver == "syslog":
        _syslog_values(opts)


def _size(value: str) -> int:
    try:
        return jsonlog.parse_size(value)
    except ValueError:
        raise InvalidParameter(f"invalid size: '{value}'") from None


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None


def _bool(value: str) -> bool:
    on = parse_bool(value)
    if on is None:
        raise InvalidParameter(invalid_bool(value))
    return on


def _json_file_values(opts: dict[str, str]) -> None:
    """moby jsonfilelog.New's checks."""
    if "max-size" in opts and _size(opts["max-size"]) <= 0:
        raise InvalidParameter("max-size must be a positive number")
    max_file = _int(opts["max-file"]) if "max-file" in opts else 1
    if max_file < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    if "compress" in opts and _bool(opts["compress"]) and (max_file == 1 or "max-size" not in opts):
        raise InvalidParameter("compress cannot be true when max-file is less than 2 "
                               "or max-size is not set")


def _syslog_values(opts: dict[str, str]) -> None:
    """moby syslog.ValidateLogOpt's checks of the address, facility and format (a
    ``tcp+tls`` address is refused: the shim speaks no TLS)."""
    address = opts.get("syslog-address", "")
    if address:
        scheme, sep, rest = address.partition("://")
        if not sep:
            raise InvalidParameter("unsupported scheme: ''")
        if scheme in ("unix", "unixgram"):
            if not os.path.exists(rest):
                raise InvalidParameter(f"stat {rest}: no such file or directory")
        elif scheme not in ("udp", "tcp"):
            raise InvalidParameter(f"unsupported scheme: '{scheme}'")
    try:
        syslogfmt.facility_code(opts.get("syslog-facility", ""))
        if opts.get("syslog-format", "") not in syslogfmt.FORMATS:
            raise ValueError("invalid syslog format")
    except ValueError as e:
        raise InvalidParameter(str(e)) from None


def _local_values(opts: dict[str, str]) -> None:
    """moby local.newConfig's checks (its defaults: 20 MB x 5, compressed)."""
    if "max-size" in opts:
        _size(opts["max-size"])
    max_file = _int(opts["max-file"]) if "max-file" in opts else locallog.DEFAULT_MAX_FILE
    if max_file < 0:
        raise InvalidParameter("max-file must not be negative")
    compress = _bool(opts["compress"]) if "compress" in opts else locallog.DEFAULT_COMPRESS
    if compress and max_file <= 1:
        raise InvalidParameter("compression cannot be enabled when max file count is 1")


def merged(log_config: dict[str, Any] | None, default_driver: str,
           default_opts: dict[str, str]) -> dict[str, Any]:
    """dockerd's mergeAndVerifyLogConfig: no Type takes the daemon's driver; the
    daemon's options fill what a container of that driver leaves out."""
    cfg = dict(log_config or {})
    driver = cfg.get("Type") or default_driver
    opts = {str(k): str(v) for k, v in (cfg.get("Config") or {}).items()}
    if driver == default_driver:
        opts = {**default_opts, **opts}
    validate(driver, opts)
    return {"Type": driver, "Config": opts}
