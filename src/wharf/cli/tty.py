"""The terminal side of attach, run -it and exec -it.

Raw mode (restored however we leave), SIGWINCH turned into resize calls,
docker's detach keys (ctrl-p,ctrl-q by default) caught on our side of the
wire, and a select loop pumping stdin to the hijacked socket and its output
to stdout/stderr.
"""

from __future__ import annotations

# _signal, not signal: the wrapper's enums (with collections and functools) cost
# every ``run`` a few ms; setup functions return their undo instead of being
# context managers, for contextlib's sake.
import _signal as signal
import os
import select
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Callable

    Undo = Callable[[], None]

from wharf.client.frames import Demuxer, write_frames
from wharf.client.http import Connection

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11" (docker's term.ToBytes)."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
            continue
        name = key.lower()
        if not name.startswith("ctrl-") or len(name) != 6:
            raise ValueError(f"Invalid detach keys ({spec}) provided")
        char = name[5]
        if "a" <= char <= "z":
            out.append(ord(char) - ord("a") + 1)
        elif char in _CTRL_SPECIAL:
            out.append(_CTRL_SPECIAL[char])
        else:
            raise ValueError(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class EscapeProxy:
    """Watches typed bytes for the detach sequence.

    Bytes that could start the sequence are held back; if the sequence
    breaks they are forwarded, so typing ctrl-p alone still reaches vi.
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the sequence is complete)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                self._held = candidate
                if candidate == self.keys:
                    return bytes(out), True
                continue
            out += candidate
            self._held = b""
        return bytes(out), False


def terminal_size(fd: int = 1) -> tuple[int, int] | None:
    """(height, width) of the terminal on ``fd``, None when it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def raw_terminal(fd: int = 0) -> Undo:
    """Put ``fd`` in raw mode when it is a terminal; returns what restores it."""
    if not os.isatty(fd):
        return lambda: None
    import termios
    import tty
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def resize_wakeup() -> tuple[int, Undo]:
    """A pipe fd that becomes readable on SIGWINCH (select-friendly, no work in the
    handler), and what puts the old handler back."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def handler(signum: int, frame: object) -> None:
        try:
            os.write(write_fd, b"x")
        except OSError:
            pass
    previous = signal.signal(signal.SIGWINCH, handler)

    def undo() -> None:
        signal.signal(signal.SIGWINCH, previous)
        os.close(read_fd)
        os.close(write_fd)
    return read_fd, undo


def forward_signals(kill: Callable[[int], None]) -> Undo:
    """--sig-proxy: signals sent to the CLI go to the container instead (until undone)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    numbers = [getattr(signal, n) for n in names]

    def handler(signum: int, frame: object) -> None:
        kill(signum)
    previous = {n: signal.signal(n, handler) for n in numbers}

    def undo() -> None:
        for n, old in previous.items():
            signal.signal(n, old)
    return undo


def pump(conn: Connection, stdin: bool, tty: bool, detach_keys: bytes | None = None,
         on_resize: Callable[[int, int], None] | None = None) -> bool:
    """Copy stdin → socket and socket → stdout/stderr until the output ends.

    Returns True when the user detached with the detach keys. Stdin EOF
    half-closes the socket, so the container sees EOF and output keeps
    coming until it is done.
    """
    out, err = sys.stdout.buffer, sys.stderr.buffer
    demuxer = None if tty else Demuxer()
    proxy = EscapeProxy(detach_keys) if (stdin and tty and detach_keys) else None
    in_fd: int | None = sys.stdin.fileno() if stdin else None
    wake_fd, undo = resize_wakeup() if on_resize is not None else (None, None)
    try:
        while True:
            watched = [conn.fileno()] + [fd for fd in (in_fd, wake_fd) if fd is not None]
            ready = [conn.fileno()] if conn.pending() else select.select(watched, [], [])[0]
            if wake_fd is not None and wake_fd in ready:
                os.read(wake_fd, 512)
                _resize(on_resize)
            if in_fd is not None and in_fd in ready:
                data = os.read(in_fd, 65536)
                if not data:
                    conn.close_write()
                    in_fd = None
                else:
                    detached = False
                    if proxy is not None:
                        data, detached = proxy.feed(data)
                    if data:
                        conn.sendall(data)
                    if detached:
                        return True
            if conn.fileno() in ready:
                try:
                    data = conn.recv()
                except ConnectionResetError:
                    data = b""
                if not data:
                    return False
                if demuxer is None:
                    out.write(data)
                    out.flush()
                else:
                    write_frames(demuxer, data, out, err)
    finally:
        if undo is not None:
            undo()


def _resize(on_resize: Callable[[int, int], None] | None) -> None:
    size = terminal_size(sys.stdout.fileno()) or terminal_size(0)
    if on_resize is not None and size:
        on_resize(*size)
