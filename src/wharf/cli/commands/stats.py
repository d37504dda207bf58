"""``wharf stats``: live resource usage, computed from the API's raw numbers as docker does."""

from __future__ import annotations

import sys
import threading
import time
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import add_format, short_id
from wharf.cli.format import render_rows
from wharf.cli.units import bytes_size, human_size
from wharf.client.http import APIError, Client

ALIASES = "wharf container stats, wharf stats"
HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
           "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
DEFAULT = ("{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
           "{{.BlockIO}}\t{{.PIDs}}")


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    add_format(parser)
    parser.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    parser.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    parser.add_argument("containers", nargs="*", metavar="CONTAINER")


def cpu_percent(stats: dict[str, Any]) -> float:
    """Docker's calculateCPUPercentUnix: the container's share of host CPU time × online CPUs."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(stats: dict[str, Any]) -> tuple[float, float]:
    """(usage without page cache, limit): docker subtracts inactive file pages (v1 total_, v2 plain)."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    detail = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in detail and detail[key] < usage:
            usage -= detail[key]
            break
    return usage, mem.get("limit", 0)


def io_totals(stats: dict[str, Any]) -> tuple[int, int, int, int]:
    """(net rx, net tx, block read, block write) in bytes."""
    nets = (stats.get("networks") or {}).values()
    rx = sum(n.get("rx_bytes", 0) for n in nets)
    tx = sum(n.get("tx_bytes", 0) for n in nets)
    entries = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(e.get("value", 0) for e in entries if str(e.get("op", "")).lower() == "read")
    write = sum(e.get("value", 0) for e in entries if str(e.get("op", "")).lower() == "write")
    return rx, tx, read, write


def stats_row(name: str, stats: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """The template fields of one container's stats line."""
    usage, limit = memory_usage(stats)
    rx, tx, read, write = io_totals(stats)
    return {"Container": name, "ID": short_id(stats.get("id", ""), no_trunc),
            "Name": (stats.get("name") or "").lstrip("/") or "--",
            "CPUPerc": f"{cpu_percent(stats):.2f}%",
            "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
            "MemPerc": f"{usage / limit * 100:.2f}%" if limit else "0.00%",
            "NetIO": f"{human_size(rx)} / {human_size(tx)}",
            "BlockIO": f"{human_size(read)} / {human_size(write)}",
            "PIDs": str((stats.get("pids_stats") or {}).get("current", 0))}


def run(args: Any, client: Client) -> int:
    names = args.containers or [c["Id"] for c in client.get("/containers/json", all=args.all or None)]
    if args.no_stream:
        rows = []
        for name in names:
            stats = client.get(f"/containers/{name}/stats", stream=0)
            rows.append(stats_row(name, stats, args.no_trunc))
        sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT))
        return 0
    latest: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for name in names:
        threading.Thread(target=_follow, args=(client, name, latest, errors), daemon=True).start()
    while True:
        time.sleep(1)
        if errors and len(errors) == len(names) and not latest:
            sys.stderr.write(errors[0] + "\n")
            return 1
        rows = [stats_row(n, latest[n], args.no_trunc) for n in names if n in latest]
        sys.stdout.write("\033[2J\033[H" + render_rows(args.format, rows, HEADERS, DEFAULT))
        sys.stdout.flush()


def _follow(client: Client, name: str, latest: dict[str, Any], errors: list[str]) -> None:
    """Keep ``latest[name]`` current from the container's stats stream."""
    try:
        resp = client.request("GET", f"/containers/{name}/stats", {"stream": 1}, stream=True)
        for stats in resp.iter_json():
            latest[name] = stats
    except APIError as err:
        errors.append(f"Error response from daemon: {err.message}")
    latest.pop(name, None)
