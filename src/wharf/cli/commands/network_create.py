"""``wharf network create``: a bridge network with docker's flags."""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "[OPTIONS] NETWORK"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    parser.add_argument("--aux-address", action="append", help="Auxiliary IPv4 or IPv6 addresses used by Network driver")
    parser.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    parser.add_argument("--gateway", action="append", help="IPv4 or IPv6 Gateway for the master subnet")
    parser.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    parser.add_argument("--ip-range", action="append", help="Allocate container ip from a sub-range")
    parser.add_argument("--ipam-opt", action="append", help="Set IPAM driver specific options")
    parser.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    parser.add_argument("--label", action="append", help="Set metadata on a network")
    parser.add_argument("-o", "--opt", action="append", help="Set driver specific options")
    parser.add_argument("--subnet", action="append", help="Subnet in CIDR format that represents a network segment")
    parser.add_argument("name", metavar="NETWORK")


def _pairs(items: list[str] | None) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in items or [])


def _within(ip: str, subnet: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return False


def run(args: Any, client: Client) -> int:
    subnets, gateways, ranges = args.subnet or [], args.gateway or [], args.ip_range or []
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise CommandError("every ip-range or gateway must have a corresponding subnet")
    config = [{k: v for k, v in (("Subnet", s), ("Gateway", g), ("IPRange", r)) if v}
              for s, g, r in zip(subnets, gateways + [""] * len(subnets),
                                 ranges + [""] * len(subnets))]
    for name, ip in _pairs(args.aux_address).items():  # with the subnet it is in, as docker's
        homes = [entry for entry in config if _within(ip, entry["Subnet"])]
        if not homes:
            raise CommandError(f"no matching subnet for aux-address {ip}")
        for entry in homes:
            entry.setdefault("AuxiliaryAddresses", {})[name] = ip
    body = {"Name": args.name, "CheckDuplicate": True, "Driver": args.driver,
            "IPAM": {"Driver": "default", "Config": config, "Options": _pairs(args.ipam_opt)},
            "EnableIPv6": args.ipv6, "Internal": args.internal, "Attachable": args.attachable,
            "Options": _pairs(args.opt), "Labels": _pairs(args.label)}
    sys.stdout.write(client.json("POST", "/networks/create", body=body)["Id"] + "\n")
    return 0
