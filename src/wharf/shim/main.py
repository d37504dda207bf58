"""One container's shim, served on the shim host's loop (``wharf.shim.host``).

A ``Shim`` is the container's stdio keeper and the engine's contact for it:
output goes to the json-file log and to attached clients, ``shim.sock``
serves the engine's requests (see docs/architecture.md, "Contract: engine ↔
shim"), and the host tells it when its init or an exec'd process exits.
Spawning (the init, each exec) and the cleanup after the exit (the cgroup,
``runc delete``) may block, so they run in forked helpers
(``wharf.shim.spawner``) and come back as callbacks: nothing here blocks
the loop the other containers share. Then it writes ``exit.json``, answers
the waiters and leaves the host.

A full disk kills nothing: log records the disk refuses are dropped and
counted (``jsonlog.Writer``) while the output keeps being read, and an
``exit.json`` that cannot be written is skipped: the waiters' answer carries
the exit (and the count of dropped log records) all the same. Any other
error in a callback fails this container alone (``fail``): its waiters get
an exit with the error, the others never notice.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import socket
import struct
import termios
import time
from typing import TYPE_CHECKING, Any, Callable

from wharf.fsutil import disk_full, write_atomic
from wharf.linux.syscalls import exit_code
from wharf.runtime import jsonlog, locallog, logfile, startgate
from wharf.shim import frames, spawner, syslog
from wharf.shim.loop import READ_SIZE, Outbox
from wharf.shim.runtimes import SpawnFailed

if TYPE_CHECKING:
    from wharf.shim.host import Host

#: Output kept for one slow client (or the awaited first attach) before the
#: container's output is no longer read: it blocks, as under Docker.
HIGH_WATER = 1 << 20
#: How long output is kept for an announced attach that has not come yet.
ATTACH_GRACE = 10.0
#: After the init exits, how long to wait for the rest of its output
#: (processes outside a pid namespace may hold the pipes).
DRAIN_TIMEOUT = 2.0
#: Reads of one output a flush makes at most: a full pipe (1 MiB at most, F_SETPIPE_SZ).
FLUSH_READS = (1 << 20) // READ_SIZE + 1
#: How long after its start a container that has written nothing yet holds a
#: flush (a log read) for its first output or its exit. dockerd answers a start a
#: few milliseconds later than wharf does, so a client that reads the logs at
#: once (docker-py's tests do) finds the first lines there; on a busy machine a
#: container started by wharf may not have run yet.
FIRST_OUTPUT_GRACE = 0.5
#: exit.json's exit code when the process could not be started (Docker's).
EXIT_CODES = {"not_found": 127, "not_executable": 126}
#: The exit code of a container whose shim failed (Docker's for a lost shim).
FAILED_EXIT = 255


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


class Conn:
    """One client of ``shim.sock``: a request line, then maybe a stream."""

    def __init__(self, shim: "Shim", sock: socket.socket) -> None:
        self.shim, self.sock = shim, sock
        self.fd = sock.fileno()
        self.out = Outbox(shim.loop, self.fd, self.close)
        self.request = b""
        self.reading = True  # until the client half-closes
        self.proc: Proc | None = None  # the process it is attached to
        self.streams: set[int] = set()  # frame streams this client gets
        self.stdin: Callable[[bytes], None] | None = None  # where its bytes go
        self.on_eof: Callable[[], None] | None = None
        self.closed = False
        shim.loop.watch(self.fd, selectors.EVENT_READ, self._read_request)

    def send_line(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message).encode() + b"\n")

    def finish(self, message: dict[str, Any] | None = None) -> None:
        """Send a last line, then close once the client has it all."""
        if self.closed:
            return
        if message is not None:
            self.send_line(message)
        self.shim.loop.watch(self.fd, selectors.EVENT_READ, None)
        self.out.after_flush(self.close)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.shim.loop.forget(self.fd)
        self.shim.conns.discard(self)
        self.out.fd = -1
        self.sock.close()
        if self.on_eof is not None:
            self.on_eof()

    def _recv(self) -> bytes | None:
        try:
            return self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return b"?"  # spurious wakeup: nothing to read; caller treats as no data
        except OSError:
            return None

    def _read_request(self) -> None:
        data = self._recv()
        if data == b"?":
            return
        if not data:
            self.close()
            return
        self.request += data
        if b"\n" not in self.request:
            if len(self.request) > READ_SIZE:
                self.finish({"error": "request too long"})
            return
        line, rest = self.request.split(b"\n", 1)
        self.shim.loop.watch(self.fd, selectors.EVENT_READ, self._read_stream)
        try:
            self.shim.handle(self, json.loads(line))
        except (ValueError, KeyError, TypeError, struct.error) as e:  # struct: a size past 16 bits
            self.finish({"error": f"bad request: {e}"})
            return
        if rest:
            self._feed(rest)

    def _read_stream(self) -> None:
        data = self._recv()
        if data == b"?":
            return
        if not data:  # half-close: stdin EOF, output keeps flowing
            self.reading = False
            self.shim.loop.watch(self.fd, selectors.EVENT_READ, None)
            cb, self.on_eof = self.on_eof, None
            if cb is not None:
                cb()
            if data is None:
                self.close()
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if self.stdin is not None:
            self.stdin(data)

    def pause_input(self, paused: bool) -> None:
        if self.reading and not self.closed:
            self.shim.loop.watch(self.fd, selectors.EVENT_READ, None if paused else self._read_stream)


class Proc:
    """A process the shim holds the stdio of: the container's init or an exec."""

    def __init__(self, shim: "Shim", tty: bool, open_stdin: bool, console_size: dict | None) -> None:
        self.shim = shim
        self.pid = 0
        self.status: int | None = None
        self.outputs: dict[int, int] = {}  # our read end -> frame stream
        self.stdin: Outbox | None = None
        self.master = -1
        self.child_fds: list[int] = []
        self.paused = False
        self.on_output: Callable[[int, bytes], None] = lambda stream, data: None
        self.on_done: Callable[[], None] = lambda: None
        if tty:
            self.master, slave = os.openpty()
            os.set_inheritable(self.master, False)
            if console_size:
                set_winsize(self.master, console_size.get("height", 0), console_size.get("width", 0))
            self.outputs[self.master] = frames.STDOUT
            self.console: int | None = slave
            self.stdio = (slave, slave, slave) if open_stdin else (_devnull(), slave, slave)
            if open_stdin:
                self.stdin = Outbox(shim.loop, self.master, self.close_stdin)
        else:
            self.console = None
            stdio = []
            if open_stdin:
                r, w = os.pipe2(os.O_CLOEXEC)
                self.stdin = Outbox(shim.loop, w, self.close_stdin)
                stdio.append(r)
            else:
                stdio.append(_devnull())
            for stream in (frames.STDOUT, frames.STDERR):
                r, w = os.pipe2(os.O_CLOEXEC)
                self.outputs[r] = stream
                stdio.append(w)
            self.stdio = tuple(stdio)
        self.child_fds = list(self.stdio)

    def started(self, pid: int, master: int | None) -> None:
        """The runtime has exec'd it: drop the child's ends, start reading output
        (from the runtime's own pty master if it made one)."""
        self.pid = pid
        self._close_child_fds()
        if master is not None:
            os.set_blocking(master, False)
            set_winsize(master, *_winsize(self.master))
            del self.outputs[self.master]
            os.close(self.master)
            self.outputs[master] = frames.STDOUT
            if self.stdin is not None:
                self.stdin.fd = master
            self.master = master
        for fd in self.outputs:
            os.set_blocking(fd, False)  # so a flush can read it dry
            self.shim.loop.watch(fd, selectors.EVENT_READ, lambda fd=fd: self._read(fd))

    def flush(self) -> None:
        """Read every output dry now, so what the process wrote before this call is
        handled (logged) before the answer. Bounded: a process that writes on and on
        gets at most a full pipe's worth read here, the loop reads the rest."""
        for fd in list(self.outputs):
            for _ in range(FLUSH_READS):
                if not self._read(fd):
                    break

    def failed(self) -> None:
        self._close_child_fds()
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs.clear()
        self.close_stdin()

    def _close_child_fds(self) -> None:
        for fd in set(self.child_fds):
            os.close(fd)
        self.child_fds = []

    def _read(self, fd: int) -> bool:
        """One read of ``fd``: True when it gave output (there may be more)."""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the pty's last slave end closed
            data = b""
        if data:
            self.on_output(self.outputs[fd], data)
            return True
        self.shim.loop.forget(fd)
        del self.outputs[fd]
        if fd != self.master:
            os.close(fd)
        self.check_done()
        return False

    def pause(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            for fd in self.outputs:
                self.shim.loop.watch(fd, selectors.EVENT_READ, None if paused else lambda fd=fd: self._read(fd))

    def write_stdin(self, data: bytes) -> None:
        if self.stdin is not None:
            self.stdin.write(data)

    def close_stdin(self) -> None:
        """EOF on the process's stdin (with a pty, stdin is the terminal: it stays)."""
        if self.stdin is not None and self.stdin.fd != self.master:
            self.shim.loop.forget(self.stdin.fd)
            os.close(self.stdin.fd)
            self.stdin.fd = -1
            self.stdin = None

    def exited(self, status: int) -> None:
        self.status = status
        self.check_done()

    def drain_deadline_passed(self) -> None:
        """Give up on output still held open by processes that outlived the init."""
        for fd in list(self.outputs):
            self.shim.loop.forget(fd)
            if fd != self.master:
                os.close(fd)
        self.outputs.clear()
        self.check_done()

    def abandon(self) -> None:
        """Close everything of the process's stdio, telling nobody (its shim failed)."""
        self.on_done = lambda: None
        self._close_child_fds()
        self.drain_deadline_passed()
        self._release_stdio()

    def check_done(self) -> None:
        if self.status is not None and not self.outputs:
            self._release_stdio()
            cb, self.on_done = self.on_done, lambda: None
            cb()

    def _release_stdio(self) -> None:
        """Its stdin and terminal closed: the process is done with us."""
        self.close_stdin()
        self.stdin = None
        if self.master >= 0:
            self.shim.loop.forget(self.master)
            os.close(self.master)
            self.master = -1


def _winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


class NoLog:
    """The ``none`` driver's writer: output goes to attached clients only."""

    dropped = 0
    held = False

    def write(self, stream: str, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def compressed(self) -> None:
        pass


def _devnull() -> int:
    return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


class Shim:
    """The state of one container on the host: made at its start request, gone once
    its exit is told and its clients have what was sent to them."""

    def __init__(self, host: "Host", bundle: str, opts: dict[str, Any]) -> None:
        self.host = host
        self.bundle = bundle
        self.loop = host.loop.scope(self)
        self.opts = opts  # the start request's: no file, one inode less per start
        spec = _read_json(os.path.join(bundle, "config.json"))
        # Kept only until ``start`` has forked its helper (which reads it from memory):
        # the host keeps a few fields of each container's spec, not the spec.
        self._spec: dict[str, Any] | None = spec
        self.cgroups_path: str | None = (spec.get("linux") or {}).get("cgroupsPath")
        self.runtime = host.runtime(self.opts.get("runtime") or "wharf")
        self.conns: set[Conn] = set()
        self.waiters: list[Conn] = []
        self.execs: dict[int, Proc] = {}
        self.exec_ids: dict[str, Proc] = {}
        self.exit: dict[str, Any] | None = None
        self.server: socket.socket | None = None
        self.server_ino = 0
        self.answered = False  # the launcher has our start's answer
        self.ending = False  # the exit is on its way (cleanup running)
        self.closed = False
        # Output nobody has seen yet, kept for an attach the engine announced ("attach": true).
        self.backlog: bytearray | None = bytearray() if self.opts.get("attach") else None
        self.backlog_until = time.monotonic() + ATTACH_GRACE
        self.drain_until: float | None = None
        self.exit_held = False  # the exit waits for the attach the output is kept for
        self.exit_deadline: float | None = None
        self.spoke = False  # the init has written something
        self.first_output_until: float | None = None  # set at the start
        self.flushes: list[Conn] = []  # flushes held for the first output (FIRST_OUTPUT_GRACE)
        self.gate: int | None = None  # the start gate's write end, while the engine has not spoken
        self.log = self._log_writer()
        self.init = Proc(self, bool(self.opts.get("tty")), bool(self.opts.get("open_stdin")),
                         spec["process"].get("consoleSize"))
        self.init.on_output = self._init_output
        self.init.on_done = self._init_done

    def _log_writer(self) -> logfile.Messages | NoLog:
        """The writer of the container's log driver, with its options (Docker's
        defaults: json-file unrotated, local 20 MB x 5 compressed)."""
        driver = self.opts.get("log_driver") or "json-file"
        opts = self.opts.get("log_opts") or {}
        if driver == "none":
            return NoLog()
        if driver == "syslog":
            return syslog.Writer(self.loop, opts)
        local = driver == "local"
        max_size = (jsonlog.parse_size(opts["max-size"]) if opts.get("max-size")
                    else locallog.DEFAULT_MAX_SIZE if local else None)
        max_file = int(opts.get("max-file") or (locallog.DEFAULT_MAX_FILE if local else 1))
        compress = opts.get("compress", str(local)).lower() in ("1", "t", "true")
        writer = locallog.Writer if local else jsonlog.Writer
        return writer(self.opts["log_path"], max_size, max_file,
                      self._compress if compress and max_size else None)

    def _compress(self, path: str) -> None:
        """Gzip a rotated log file in a helper: a big one never stalls the loop."""
        def job() -> spawner.Report:
            logfile.compress_rotated(path)
            return {}, []
        self.host.spawn(self, job, (), lambda answer, fds, early: self.log.compressed())

    # -- start -----------------------------------------------------------
    def start(self) -> None:
        """Spawn the container in a helper; the launcher hears back in ``_spawned``.
        With ``gate`` in the options the helper's runtime waits before exec until
        the engine's gate line (``release_gate``; ``wharf.runtime.startgate``)."""
        bundle, runtime, cgroups_path = self.bundle, self.runtime, self.cgroups_path
        stdio, console = self.init.stdio, self.init.console
        spec, self._spec = self._spec, None
        assert spec is not None, "a shim starts once"
        gate = None
        if self.opts.get("gate"):
            gate, self.gate = os.pipe()

        def job() -> spawner.Report:
            try:
                pid, master = runtime.spawn(bundle, spec, stdio, console, gate)
            except SpawnFailed as e:
                runtime.cleanup(bundle, cgroups_path)
                return {"error": str(e), "kind": e.kind}, []
            return {"pid": pid}, [] if master is None else [master]
        try:
            self.host.spawn(self, job, [*self.init.child_fds, *(() if gate is None else (gate,))],
                            self._spawned)
        finally:
            if gate is not None:
                os.close(gate)  # the helper has its copy

    def release_gate(self, go: bool) -> None:
        """Tell the runtime waiting at the start gate to exec (or to give up); once."""
        if self.gate is not None:
            startgate.release(self.gate, go)
            self.gate = None

    def _spawned(self, answer: dict[str, Any], fds: list[int], early: int | None) -> None:
        self.release_gate(False)  # the helper is past its gate (or failed before it)
        if self.ending:  # failed meanwhile: what the helper started goes too
            spawner.discard(answer, fds)
            return
        if "error" in answer:
            self.init.failed()
            self.log.close()
            self._write_exit(EXIT_CODES.get(answer.get("kind", ""), 128), answer["error"], False)
            self._answer(answer)
            self.close()
            return
        pid = answer["pid"]
        self.first_output_until = time.monotonic() + FIRST_OUTPUT_GRACE
        self.init.started(pid, fds[0] if fds else None)
        self.host.adopt(pid, self, self._init_exited)
        self._listen()
        self._answer({"pid": pid})
        if early is not None:
            self._init_exited(early)

    def _answer(self, answer: dict[str, Any]) -> None:
        self.answered = True
        self.host.answer(self.bundle, answer)

    def _listen(self) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock_path = os.path.join(self.bundle, "shim.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        os.chdir(self.bundle)  # a relative name: the full path may pass sun_path's 108 bytes
        try:
            self.server.bind("shim.sock")
        finally:
            os.chdir("/")
        self.server_ino = os.stat(sock_path).st_ino
        self.server.listen(64)
        self.server.setblocking(False)
        self.loop.watch(self.server.fileno(), selectors.EVENT_READ, self._accept)

    # -- on the host's loop ----------------------------------------------
    def deadline(self) -> float | None:
        """When ``poll`` has something to do even if nothing happens."""
        nearest = self.backlog_until if self.backlog is not None else None
        for d in (self.drain_until, self.exit_deadline,
                  self.first_output_until if self.flushes else None):
            if d is not None and (nearest is None or d < nearest):
                nearest = d
        return nearest

    def poll(self, now: float) -> None:
        """After events or at a deadline: expire what is due, apply backpressure,
        leave once the exit is told and no client is left."""
        if self.closed:
            return
        if self.backlog is not None and now >= self.backlog_until:
            self.backlog = None
            if self.exit_held:
                self._exit_now()
        if self.drain_until is not None and now >= self.drain_until:
            self.drain_until = None
            self.init.drain_deadline_passed()
        if self.flushes and now >= (self.first_output_until or 0):
            self._answer_flushes()
        if self.exit_deadline is not None and (not self.conns or now >= self.exit_deadline):
            self.close()
            return
        self._apply_backpressure()

    def _apply_backpressure(self) -> None:
        """Stop reading a process's output while a client it writes to lags far behind
        (or, for the init, while its full log file waits for the gzip of the last
        rotated one), and a client's stdin while the process does not read it."""
        for proc in (self.init, *self.execs.values()):
            lagging = any(len(c.out.buf) > HIGH_WATER for c in self.conns if c.proc is proc)
            if proc is self.init:
                if self.backlog is not None:
                    lagging = lagging or len(self.backlog) > HIGH_WATER
                lagging = lagging or self.log.held  # its log waits for a rotation
            proc.pause(lagging)
        for c in self.conns:
            if c.stdin is not None and c.proc is not None and c.proc.stdin is not None:
                c.pause_input(len(c.proc.stdin.buf) > HIGH_WATER)

    def _init_exited(self, status: int) -> None:
        if self.init.status is None:
            self.drain_until = time.monotonic() + DRAIN_TIMEOUT
            self.init.exited(status)

    def _accept(self) -> None:
        assert self.server is not None
        try:
            sock, _ = self.server.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.conns.add(Conn(self, sock))

    # -- requests ---------------------------------------------------------
    def handle(self, conn: Conn, req: dict[str, Any]) -> None:
        op = req["op"]
        if op == "state":
            status = "running" if self.init.status is None else "stopped"
            conn.finish({"pid": self.init.pid, "status": status})
        elif op == "wait":
            if self.exit is not None:
                conn.finish(self._wait_answer())
            else:
                self.waiters.append(conn)
        elif op == "flush":
            self.flushes.append(conn)
            self.init.flush()  # what it wrote so far: logged, and may answer it
            if self.flushes and (self.spoke or self.init.status is not None or self.ending
                                 or time.monotonic() >= (self.first_output_until or 0)):
                self._answer_flushes()
        elif op == "resize":
            self._resize(conn, self.init, req)
        elif op == "exec_resize":
            proc = self.exec_ids.get(req["id"])
            if proc is None:
                conn.finish({"error": f"No such exec instance: {req['id']}"})
            else:
                self._resize(conn, proc, req)
        elif op == "attach":
            self._attach(conn, req)
        elif op == "exec":
            self._exec(conn, req)
        else:
            conn.finish({"error": f"unknown op {op!r}"})

    def _resize(self, conn: Conn, proc: Proc, req: dict[str, Any]) -> None:
        if proc.master < 0:
            conn.finish({"error": "the process has no terminal"})
            return
        set_winsize(proc.master, int(req["height"]), int(req["width"]))
        conn.finish({"ok": True})

    def _attach(self, conn: Conn, req: dict[str, Any]) -> None:
        if self.exit is not None or self.ending:  # its output is in the log: the engine replays it
            conn.finish({"error": "container is not running"})
            return
        conn.send_line({"ok": True})
        tty = self.init.master >= 0
        for name, stream in frames.STREAMS.items():
            if req.get(name):
                conn.streams.add(stream)
        if tty and frames.STDOUT in conn.streams:
            conn.streams.add(frames.STDERR)  # a pty has one output
        if req.get("stdin") and self.init.stdin is not None:
            conn.stdin = self.init.write_stdin
            if self.opts.get("stdin_once") and not tty:
                conn.on_eof = self.init.close_stdin
        if self.backlog is not None:
            conn.out.write(bytes(self.backlog))
            self.backlog = None
        conn.proc = self.init
        if self.exit_held:
            self._exit_now()

    def _answer_flushes(self) -> None:
        """Answer the held flushes once what the init wrote is read dry into the log."""
        flushes, self.flushes = self.flushes, []
        self.init.flush()
        for conn in flushes:
            conn.finish({"ok": True})

    def _init_output(self, stream: int, data: bytes) -> None:
        self.log.write("stdout" if stream == frames.STDOUT else "stderr", data)
        self.spoke = True
        framed = frames.frame(stream, data)
        if self.backlog is not None:
            self.backlog += framed
        for conn in list(self.conns):
            if conn.proc is self.init and stream in conn.streams:
                conn.out.write(framed)
        if self.flushes:  # last: the reads it makes come after this chunk everywhere
            self._answer_flushes()

    def _exec(self, conn: Conn, req: dict[str, Any]) -> None:
        """Spawn ``process`` in a helper that re-reads the spec (the host keeps none)."""
        if self.init.status is not None or self.ending:
            conn.finish({"error": "container is not running"})
            return
        process = req["process"]
        proc = Proc(self, bool(req.get("tty")), bool(req.get("stdin")), process.get("consoleSize"))
        bundle, runtime, init_pid = self.bundle, self.runtime, self.init.pid
        stdio, console = proc.stdio, proc.console

        def job() -> spawner.Report:
            spec = _read_json(os.path.join(bundle, "config.json"))
            try:
                pid, master = runtime.spawn_exec(bundle, init_pid, spec, process, stdio, console)
            except SpawnFailed as e:
                return {"error": str(e), "kind": e.kind}, []
            return {"pid": pid}, [] if master is None else [master]
        self.host.spawn(self, job, proc.child_fds,
                        lambda answer, fds, early: self._exec_spawned(conn, req["id"], proc,
                                                                      answer, fds, early))

    def _exec_spawned(self, conn: Conn, exec_id: str, proc: Proc, answer: dict[str, Any],
                      fds: list[int], early: int | None) -> None:
        if self.ending:
            spawner.discard(answer, fds)
            proc.failed()
            conn.finish({"error": "container is not running"})
            return
        if "error" in answer:
            proc.failed()
            conn.finish({"error": answer["error"], "kind": answer.get("kind", "")})
            return
        pid = answer["pid"]
        proc.started(pid, fds[0] if fds else None)
        self.execs[pid] = proc
        self.exec_ids[exec_id] = proc
        self.host.adopt(pid, self, lambda status: self.execs.pop(pid).exited(status))
        conn.send_line({"ok": True, "pid": pid})
        conn.proc = proc
        conn.streams = {frames.STDOUT, frames.STDERR}
        conn.stdin = proc.write_stdin
        conn.on_eof = proc.close_stdin
        proc.on_output = lambda stream, data: conn.out.write(frames.frame(stream, data))

        def done() -> None:
            self.exec_ids.pop(exec_id, None)
            conn.out.write(frames.control({"exit_code": exit_code(proc.status or 0)}))
            conn.finish()
        proc.on_done = done
        if early is not None:
            self.execs.pop(pid).exited(early)

    # -- the end ------------------------------------------------------------
    def _init_done(self) -> None:
        """The init exited and its output is drained: the cgroup goes (in a helper)
        before anyone hears of the exit, so the engine's cleanup finds it gone
        instead of racing this one (thaw, kill, rmdir twice over).

        With a driver that keeps no file (none, syslog) and an attach waiting
        (``attach_waiting``), the output kept for it exists nowhere else: the
        exit waits until that attach has it (or ``ATTACH_GRACE`` is over)."""
        self.drain_until = None
        self._answer_flushes()  # its output is all in the log now
        self.log.close()
        if (self.backlog and self.opts.get("attach_waiting")
                and not isinstance(self.log, logfile.Writer)):
            self.exit_held = True
            return
        self._exit_now()

    def _exit_now(self) -> None:
        self.exit_held = False
        code = exit_code(self.init.status or 0)
        oom_killed = self.runtime.oom_killed(self.cgroups_path)
        self._end(lambda: self._tell_exit(code, "", oom_killed))

    def _end(self, then: Callable[[], None]) -> None:
        """Stop taking clients, clean the runtime up in a helper, then ``then``."""
        self.ending = True
        if self.server is not None:
            self.loop.forget(self.server.fileno())
        bundle, runtime, cgroups_path = self.bundle, self.runtime, self.cgroups_path

        def cleanup() -> spawner.Report:
            runtime.cleanup(bundle, cgroups_path)
            return {}, []
        self.host.spawn(self, cleanup, (), lambda answer, fds, early: then())

    def _tell_exit(self, code: int, error: str, oom_killed: bool) -> None:
        self._write_exit(code, error, oom_killed)
        answer = self._wait_answer()
        for conn in self.waiters:
            conn.finish(answer)
        for conn in list(self.conns):
            if conn.proc is not None and conn.proc is not self.init and conn.proc.status is None:
                # an exec not reaped yet dies with the container's PID namespace: say so
                # (SIGKILL's 137), or its client learns no exit code at all
                conn.out.write(frames.control({"exit_code": 128 + 9}))
            conn.finish()
        self.exit_deadline = time.monotonic() + DRAIN_TIMEOUT

    def fail(self, error: BaseException) -> None:
        """A callback of this container's raised: log it, and end this container alone:
        its processes killed with its cgroup, its waiters told an exit with the error."""
        self.host.log_error(f"container {os.path.basename(self.bundle)}", error)
        if self.closed:
            return
        if self.ending or self.exit is not None:  # failed on the way out: just go
            self.close()
            return
        message = f"shim: {error}"
        self.exit_held = False
        self.release_gate(False)
        try:
            for pid in [self.init.pid, *self.execs]:
                if pid:
                    self.host.disown(pid)
            for proc in (self.init, *self.execs.values()):
                proc.abandon()
            self.execs.clear()
            self.log.close()
        except Exception as e:  # noqa: BLE001 - still end it below
            self.host.log_error(f"container {os.path.basename(self.bundle)}", e)
        if not self.answered:
            self._answer({"error": message, "kind": "shim"})
        self._end(lambda: self._tell_exit(FAILED_EXIT, message, False))

    def _write_exit(self, code: int, error: str, oom_killed: bool) -> None:
        self.exit = {"exit_code": code, "finished_at": logfile.Timestamps().format(time.time_ns()),
                     "oom_killed": oom_killed, "error": error}
        # No fsync: the engine reads it after its own kill -9 (the page cache has it);
        # after a power loss no container is left whose exit it could tell.
        try:
            write_atomic(os.path.join(self.bundle, "exit.json"), json.dumps(self.exit).encode(),
                         durable=False)
        except OSError as e:
            if not disk_full(e):
                raise

    def _wait_answer(self) -> dict[str, Any]:
        assert self.exit is not None
        answer = {k: self.exit[k] for k in ("exit_code", "oom_killed", "finished_at")}
        if self.exit["error"]:
            answer["error"] = self.exit["error"]
        return {**answer, "log_dropped": self.log.dropped}

    def close(self) -> None:
        """Leave the host: clients dropped, ``shim.sock`` removed (unless a new start of
        the same container bound its own already)."""
        if self.closed:
            return
        self.closed = True
        self.release_gate(False)
        for conn in list(self.conns):
            conn.close()
        if self.server is not None:
            self.loop.forget(self.server.fileno())
            sock_path = os.path.join(self.bundle, "shim.sock")
            try:
                if os.stat(sock_path).st_ino == self.server_ino:
                    os.unlink(sock_path)
            except FileNotFoundError:
                pass
            self.server.close()
        self.host.remove(self)
