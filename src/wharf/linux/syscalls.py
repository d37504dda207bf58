"""The one place where wharf calls the kernel through ctypes.

Python 3.11 has no ``os.unshare``/``os.setns`` and no mount API, so these thin
wrappers fill the gap. Every wrapper raises ``OSError`` with the errno and a
message naming the call and its path, so a failure deep in container setup
still says what went wrong ("mount proc on /proc: Operation not permitted").
Only constants this project uses are defined here.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import termios

_libc = ctypes.CDLL(None, use_errno=True)

# clone(2) / unshare(2) / setns(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

# umount2(2) flags
MNT_DETACH = 2

# mount_setattr(2)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
_NR_MOUNT_SETATTR = 442  # the same on every architecture (after the syscall table unification)

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# close_range(2) flags
CLOSE_RANGE_CLOEXEC = 1 << 2

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    """Move the calling thread into new namespaces (``flags``: CLONE_NEW*)."""
    _check(_libc.unshare(flags), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace open at ``fd`` (from /proc/PID/ns/KIND)."""
    _check(_libc.setns(fd, nstype), f"setns {nstype:#x}")


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2); ``data`` is the comma-separated option string of the filesystem."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {fstype or source} on {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, flags: int = AT_RECURSIVE) -> None:
    """mount_setattr(2) on the mount at ``path`` (with AT_RECURSIVE, on every mount
    below it too: what a remount cannot do, e.g. make submounts read-only)."""
    attr = _MountAttr(attr_set, 0, 0, 0)
    _check(_libc.syscall(ctypes.c_long(_NR_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), _b(path),
                         ctypes.c_uint(flags), ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr))), f"mount_setattr {path}")


def has_mount_setattr() -> bool:
    """Whether the kernel has mount_setattr(2) (5.12+): a call on no path fails with
    ENOENT there, ENOSYS before."""
    try:
        mount_setattr("", 0, 0)
    except OSError as e:
        return e.errno != errno.ENOSYS
    return True


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.pivot_root(_b(new_root), _b(put_old)), f"pivot_root {new_root}")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname {name}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2) with integer arguments; returns the call's result."""
    return _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)), f"prctl {option}")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) capability masks of ``pid`` (0: self)."""
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, pid)
    data = ctypes.create_string_buffer(24)
    _check(_libc.capget(header, data), f"capget {pid}")
    e0, p0, i0, e1, p1, i1 = struct.unpack("6I", data.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's capability masks (64-bit, v3 ABI)."""
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    lo, hi = 0xFFFFFFFF, 32
    data = struct.pack("6I", effective & lo, permitted & lo, inheritable & lo,
                       effective >> hi, permitted >> hi, inheritable >> hi)
    _check(_libc.capset(header, data), "capset")


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """Close (or with CLOSE_RANGE_CLOEXEC, mark close-on-exec) fds first..last."""
    _check(_libc.close_range(ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_int(flags)),
           f"close_range {first}")


def close_fds_except(keep: set[int]) -> None:
    """Close every fd from 3 up except ``keep`` (close_range over the gaps)."""
    first = 3
    for fd in sorted(k for k in keep if k >= first):
        if fd > first:
            close_range(first, fd - 1)
        first = fd + 1
    close_range(first)


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


#: ``chattr`` flags (FS_IOC_GETFLAGS/SETFLAGS; the kernel reads and writes an int)
FS_TOPDIR_FL = 0x00020000
FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602


def spread_subdirs(path: str) -> None:
    """Mark ``path`` as the top of unrelated trees (``chattr +T``), where each
    subdirectory is one container's: ext4's allocator then puts each new
    subdirectory (and the files made in it) in a block group with room of its
    own choosing, as for directories at the filesystem's root, instead of next
    to its siblings.

    Why: ext4 without a journal skips inodes freed in the last minutes (5 s once
    their inode table block is written back, 300 s while it is dirty), testing
    each free one in order, so after a few hundred containers were removed every
    new file in their group first walks past their inodes: that walk was a
    third of wharfd's CPU in a start burst on such a disk. With a journal ext4
    tests nothing and this changes little. Best effort: a filesystem without
    the flag (tmpfs, xfs, btrfs) is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return
    try:
        old = struct.unpack_from("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8)))[0]
        if not old & FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("iI", old | FS_TOPDIR_FL, 0))
    except OSError:  # ENOTTY, EOPNOTSUPP: a filesystem without the flag
        pass
    finally:
        os.close(fd)


def unread_sent(fd: int) -> int:
    """Bytes sent on a unix stream socket that its peer has not read yet
    (SIOCOUTQ: a unix socket's sent data stays charged to the sender until read)."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, bytes(4)))[0])


def interface_up(name: str) -> None:
    """Set ``name`` up in the calling thread's network namespace (``ip link set up``),
    by the netdevice ioctls: for a new namespace's ``lo`` this is all netlink would do."""
    import fcntl
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", name.encode(), 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | _IFF_UP))


_SIOCSIFADDR = 0x8916
_SIOCSIFNETMASK = 0x891C
_SIOCADDRT = 0x890B
_RTF_UP, _RTF_GATEWAY = 0x1, 0x2
#: struct rtentry with C's alignment (120 bytes on 64-bit): pad, dst, gateway,
#: genmask, flags, pad, pad, pad, metric, dev, mtu, window, irtt
_RTENTRY = struct.Struct("@L16s16s16sHhLPhPLLH0L")


def _sockaddr_in(address: bytes) -> bytes:
    """struct sockaddr_in of an IPv4 address (4 bytes), port 0."""
    import socket
    return struct.pack("HH4s8x", socket.AF_INET, 0, address)


def interface_set_ipv4(name: str, address: bytes, netmask: bytes) -> None:
    """Give ``name`` the IPv4 ``address``/``netmask`` (4 bytes each) in the calling
    thread's network namespace (``ifconfig``'s ioctls; the kernel adds the subnet's
    route and the broadcast address as for ``ip addr add``)."""
    import fcntl
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for request, value in ((_SIOCSIFADDR, address), (_SIOCSIFNETMASK, netmask)):
            fcntl.ioctl(sock, request, name.encode().ljust(16, b"\0") + _sockaddr_in(value))


def add_default_route(gateway: bytes) -> None:
    """``route add default gw GATEWAY`` (4 bytes) in the calling thread's namespace."""
    import fcntl
    import socket
    zero = _sockaddr_in(bytes(4))
    entry = _RTENTRY.pack(0, zero, _sockaddr_in(gateway), zero, _RTF_UP | _RTF_GATEWAY,
                          0, 0, 0, 0, 0, 0, 0, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, _SIOCADDRT, entry)


_SECCOMP_SET_MODE_FILTER = 1
_NR_SECCOMP = {"x86_64": 317, "i686": 354, "aarch64": 277}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_filter(program: bytes) -> None:
    """Install a classic BPF seccomp filter (``struct sock_filter[]``, 8 bytes each)."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    nr = _NR_SECCOMP[os.uname().machine]
    _check(_libc.syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                         ctypes.c_uint(0), ctypes.byref(prog)), "seccomp")


# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_NR_OPENAT2 = 437  # the same on every architecture (added after the syscall table unification)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under ``resolve`` rules; returns the fd."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _check(_libc.syscall(ctypes.c_long(_NR_OPENAT2), ctypes.c_int(dirfd), _b(path),
                                ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))),
                  f"openat2 {path}")


# bpf(2)
_NR_BPF = {"x86_64": 321, "i686": 357, "aarch64": 280}
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    return _check(_libc.syscall(ctypes.c_long(_NR_BPF[os.uname().machine]), ctypes.c_int(cmd),
                                attr, ctypes.c_uint(len(attr))), what)


def bpf_prog_load(prog_type: int, insns: bytes, license: str = "Apache") -> int:
    """Load an eBPF program (8-byte instructions); returns its fd, the verifier's log on failure."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIQQIIQ", attr, 0, prog_type, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
    try:
        return _bpf(_BPF_PROG_LOAD, attr, "bpf prog load")
    except OSError as e:
        raise OSError(e.errno, f"{e.strerror}: {log.value.decode(errors='replace')[-500:]}") from None


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    """Attach a loaded program to a cgroup (``target_fd``: the cgroup2 directory)."""
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    _bpf(_BPF_PROG_ATTACH, attr, "bpf prog attach")


def exit_code(status: int) -> int:
    """A wait status as Docker and a shell report it: the process's own exit code, or
    128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
