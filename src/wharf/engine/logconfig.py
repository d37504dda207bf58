"""A container's LogConfig at create: the daemon's default merged in, then
checked with dockerd's rules and words (moby ``daemon/logs.go``,
``daemon/logger/factory.go``), so a driver or option the shim cannot honour
is refused before anything is made.

The drivers are the shim's (``wharf.runtime.jsonlog`` writes json-file);
one it does not have is "not registered", as in a dockerd without it.
"""

from __future__ import annotations

from typing import Any

from wharf.errors import InvalidParameter

#: log driver → the options it takes (besides the common ones below)
LOG_DRIVERS: dict[str, tuple[str, ...]] = {"json-file": ("max-file", "max-size", "compress")}
#: options every driver takes (logger.Attr*: they label the records)
COMMON_OPTS = ("env", "env-regex", "labels", "labels-regex", "tag", "mode", "max-buffer-size")


def validate(driver: str, opts: dict[str, str]) -> None:
    """dockerd's ValidateLogOpts."""
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
            raise InvalidParameter(f"unknown log opt '{key}' for {driver} log driver")


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
