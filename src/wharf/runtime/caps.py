"""Linux capabilities: names, Docker's defaults and cap-add/cap-drop rules.

The engine computes the list a container gets (``effective_set``) and writes
it into the OCI spec by name; the runtime turns names into bits and applies
them to the process about to exec (``apply``). Docker's rules are kept here
in one place so ``--cap-add ALL --cap-drop NET_RAW`` means what it does there.
"""

from __future__ import annotations

from wharf.errors import InvalidParameter
from wharf.linux import syscalls

#: Capability names in kernel bit order (linux/capability.h).
NAMES: tuple[str, ...] = tuple("CAP_" + n for n in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"))
NUMBERS: dict[str, int] = {name: bit for bit, name in enumerate(NAMES)}

#: Docker's default set (moby oci/caps/defaults.go), in Docker's order.
DEFAULT: tuple[str, ...] = tuple("CAP_" + n for n in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"))

ALL = "ALL"


def host_bounding_mask(status_path: str = "/proc/self/status") -> int:
    """The CapBnd mask of this process: no container can get more than that."""
    with open(status_path) as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << len(NAMES)) - 1


def all_capabilities(bounding: int | None = None) -> list[str]:
    """Every capability the host can grant (``--privileged``, ``--cap-add ALL``)."""
    mask = host_bounding_mask() if bounding is None else bounding
    return [name for bit, name in enumerate(NAMES) if mask >> bit & 1]


def normalize(names: list[str]) -> list[str]:
    """Docker's spelling: upper case with a ``CAP_`` prefix; ``ALL`` kept as is.

    Raises ``InvalidParameter`` for a name the kernel does not know.
    """
    out = []
    for raw in names:
        name = raw.strip().upper()
        if name == ALL:
            out.append(ALL)
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in NUMBERS:
            raise InvalidParameter(f'unknown capability: "{name}"')
        out.append(name)
    return out


def effective_set(cap_add: list[str] | None = None, cap_drop: list[str] | None = None,
                  privileged: bool = False, bounding: int | None = None) -> list[str]:
    """The capabilities a container gets, as Docker's ``TweakCapabilities`` decides.

    Only capabilities in the host's bounding set (``bounding``, default this
    process's) are returned: asking the kernel for more would fail the start.
    """
    host = all_capabilities(bounding)
    adds, drops = normalize(cap_add or []), normalize(cap_drop or [])
    if privileged:
        wanted = host
    elif ALL in adds:
        wanted = [c for c in host if c not in drops]
    elif ALL in drops:
        wanted = adds
    else:
        wanted = [c for c in DEFAULT if c not in drops] + adds
    return [c for c in dict.fromkeys(wanted) if c in host]


def mask(names: list[str] | None) -> int:
    """Bit mask of capability names (unknown names are ignored)."""
    bits = 0
    for name in names or ():
        if name in NUMBERS:
            bits |= 1 << NUMBERS[name]
    return bits


def last_cap() -> int:
    """Highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def drop_bounding(keep: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    for bit in range(last_cap() + 1):
        if not keep >> bit & 1:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, bit)


def set_process(caps: dict[str, list[str]]) -> None:
    """Set effective/permitted/inheritable from an OCI ``process.capabilities``,
    and clear the ambient set, so nothing the caller had leaks into the container."""
    syscalls.capset(mask(caps.get("effective")), mask(caps.get("permitted")),
                    mask(caps.get("inheritable")))
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
