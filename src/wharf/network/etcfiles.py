"""A container's /etc/hosts and /etc/resolv.conf, as Docker writes them.

Pure text in, text out; the engine writes the results into the container's
directory (``hosts``, ``resolv.conf``) and bind-mounts them.

resolv.conf: ``--dns``/``--dns-search``/``--dns-option`` replace the host's
values; loopback nameservers cannot work from another namespace, so they are
dropped (Google's 8.8.8.8 and 8.8.4.4 when nothing is left), except behind
the embedded DNS server, whose forwarder runs in the daemon's namespace
(``embedded=True``: the file says ``nameserver 127.0.0.11``, ``options
ndots:0``, and the real servers become the server's upstreams).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
EMBEDDED_NAMESERVER = "127.0.0.11"


def hosts_file(hostname: str, address: str | None, extra_hosts: list[str] = (),
               domainname: str = "", address6: str | None = None) -> str:
    """Localhost entries, ``--add-host name:ip`` lines, then the container's own name
    (on its IPv6 address too, when its network has IPv6, as Docker's).

    ``extra_hosts`` come as the API has them (``name:ip``; the IP may be IPv6
    and so contain colons); ``host-gateway`` must be replaced by the caller.
    """
    lines = [DEFAULT_HOSTS]
    for entry in extra_hosts:
        name, _, ip = entry.partition(":")
        lines.append(f"{ip.strip('[]')}\t{name}\n")
    if address:
        names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        lines += [f"{ip}\t{names}\n" for ip in (address, address6) if ip]
    return "".join(lines)


@dataclass(frozen=True)
class ResolvConf:
    """The file's text, and where the embedded server should forward (empty if unused)."""

    text: str
    upstreams: list[str]


def resolv_conf(host_text: str, dns: list[str] = (), dns_search: list[str] = (),
                dns_options: list[str] = (), embedded: bool = False) -> ResolvConf:
    """The container's resolv.conf from the host's text and the ``--dns*`` flags."""
    host = _parse(host_text)
    servers = list(dns) or host["nameserver"]
    search = list(dns_search) or host["search"]
    if search == ["."]:  # Docker: --dns-search=. means "no search domains"
        search = []
    options = list(dns_options) or host["options"]
    if embedded:
        options = ["ndots:0", *(o for o in options if not o.startswith("ndots:"))]
        return ResolvConf(_render([EMBEDDED_NAMESERVER], search, options), servers)
    servers = [s for s in servers if not _is_loopback(s)] or list(FALLBACK_NAMESERVERS)
    return ResolvConf(_render(servers, search, options), [])


def _parse(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"nameserver": [], "search": [], "options": []}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            out["nameserver"].append(words[1])
        elif words[0] in ("search", "domain"):
            out["search"] = words[1:]  # the last one wins, as in the resolver
        elif words[0] == "options":
            out["options"] += words[1:]
    return out


def _render(servers: list[str], search: list[str], options: list[str]) -> str:
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _is_loopback(server: str) -> bool:
    return server.startswith("127.") or server == "::1"
