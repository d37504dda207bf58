"""``wharf update``: change the resources and restart policy of containers
(``POST /containers/{id}/update``); a flag left out keeps its value."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli.common import for_each
from wharf.cli.containerspec import restart_policy
from wharf.cli.errors import CommandError
from wharf.cli.units import mem_bytes, nano_cpus, ram_in_bytes

USAGE = "[OPTIONS] CONTAINER [CONTAINER...]"
ALIASES = "wharf container update, wharf update"
#: flag dest → the UpdateConfig field it sets
FIELDS = {"blkio_weight": "BlkioWeight", "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota",
          "cpu_shares": "CpuShares", "cpus": "NanoCpus", "cpuset_cpus": "CpusetCpus",
          "cpuset_mems": "CpusetMems", "memory": "Memory",
          "memory_reservation": "MemoryReservation", "memory_swap": "MemorySwap",
          "pids_limit": "PidsLimit"}


def add_arguments(parser: Any) -> None:
    add = parser.add_argument
    add("--blkio-weight", type=int, help="Block IO (relative weight), between 10 and 1000, "
                                         "or 0 to disable (default 0)")
    add("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period")
    add("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota")
    add("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    add("--cpus", type=nano_cpus, metavar="decimal", help="Number of CPUs")
    add("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    add("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    add("-m", "--memory", type=ram_in_bytes, metavar="bytes", help="Memory limit")
    add("--memory-reservation", type=ram_in_bytes, metavar="bytes", help="Memory soft limit")
    add("--memory-swap", type=mem_bytes, metavar="bytes",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    add("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
    add("--restart", help="Restart policy to apply when a container exits")
    add("containers", nargs="+", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    body: dict[str, Any] = {field: getattr(args, dest) for dest, field in FIELDS.items()
                            if getattr(args, dest) is not None}
    if args.restart is not None:
        body["RestartPolicy"] = restart_policy(args.restart)
    if not body:
        raise CommandError("you must provide one or more flags when using this command", 1)

    def update(name: str) -> None:
        answer = client.json("POST", f"/containers/{name}/update", body=body)
        for warning in (answer or {}).get("Warnings") or []:
            print(f"WARNING: {warning}")
    return for_each(args.containers, update)
