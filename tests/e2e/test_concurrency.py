"""Many clients at once, as a compose up, a CI runner or a test fixture drives
an engine: every request finishes, none is stuck, nothing is left behind.

Each test has a daemon of its own (``make_wharfd``): a stuck one must not take
the shared daemon's tests down with it, and its teardown checks for leaks.
Every CLI call has a timeout, so a deadlock fails the test instead of hanging
the suite.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402

TIMEOUT = 120  # seconds for any one CLI call: far past a slow start, short of forever


def in_parallel(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 16) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def states(d) -> dict[str, str]:
    out = ok(d.docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"))
    return dict(line.split() for line in out.splitlines())


@pytest.fixture
def daemon(make_wharfd):
    return make_wharfd()


def test_32_concurrent_docker_run_d_all_run_and_rm_f_leaves_none(daemon) -> None:
    ids = in_parallel(lambda i: ok(daemon.docker("run", "-d", "--name", f"c{i}", "busybox",
                                                 "sleep", "600", timeout=TIMEOUT)).strip(),
                      range(32), workers=32)
    assert len(set(ids)) == 32
    running = states(daemon)
    assert {running[cid] for cid in ids} == {"running"}, running
    # The daemon still answers and still starts containers after the burst.
    assert ok(daemon.docker("run", "--rm", "busybox", "echo", "after", timeout=TIMEOUT)) == "after\n"
    in_parallel(lambda cid: ok(daemon.docker("rm", "-f", cid, timeout=TIMEOUT)), ids, workers=32)
    assert states(daemon) == {}


def test_mixed_lifecycle_on_the_same_containers(daemon) -> None:
    """run -d, run --rm, exec, stop, kill and rm -f racing on 16 containers: each call
    ends with a Docker answer (success or a conflict/not-found), none hangs."""
    ids = in_parallel(lambda i: ok(daemon.docker("run", "-d", "busybox", "sleep", "600",
                                                 timeout=TIMEOUT)).strip(), range(16))

    def act(job: tuple[int, str]) -> tuple[str, int, str]:
        n, cid = job
        args = [("exec", cid, "echo", "hi"), ("stop", "-t", "1", cid), ("kill", cid),
                ("rm", "-f", cid), ("run", "--rm", "busybox", "true"),
                ("restart", "-t", "1", cid)][n % 6]
        r = daemon.docker(*args, timeout=TIMEOUT)
        return args[0], r.returncode, r.stderr

    results = in_parallel(act, [(n, ids[n % 16]) for n in range(64)])
    for verb, code, err in results:
        if code != 0:  # losing a race is allowed; it must say so as Docker does
            assert verb != "run" and ("No such container" in err or "is not running" in err
                                      or "removal of container" in err
                                      # exec created, container stopped before start: the
                                      # docker CLI's hijack prints only the status (as on dockerd)
                                      or "unable to upgrade to tcp, received 409" in err
                                      or "cannot" in err.lower() or "conflict" in err.lower()), \
                (verb, code, err)
    in_parallel(lambda cid: daemon.docker("rm", "-f", cid, timeout=TIMEOUT), ids)
    assert states(daemon) == {}


def test_64_run_rm_and_exec_at_concurrency_16(daemon) -> None:
    host = ok(daemon.docker("run", "-d", "busybox", "sleep", "600", timeout=TIMEOUT)).strip()
    runs = in_parallel(lambda i: daemon.docker("run", "--rm", "busybox", "echo", f"r{i}",
                                               timeout=TIMEOUT), range(64))
    assert [r.stdout for r in runs] == [f"r{i}\n" for i in range(64)], [r.stderr for r in runs]
    execs = in_parallel(lambda i: daemon.docker("exec", host, "echo", f"e{i}", timeout=TIMEOUT),
                        range(64))
    assert [r.stdout for r in execs] == [f"e{i}\n" for i in range(64)], [r.stderr for r in execs]
    ok(daemon.docker("rm", "-f", host, timeout=TIMEOUT))
    assert states(daemon) == {}


def test_parallel_pulls_of_one_image(make_wharfd, tmp_path: Path) -> None:
    pusher, puller = make_wharfd(), make_wharfd(with_busybox=False)
    server = wharf_registry(tmp_path, "open")
    ref = f"{server.addr}/team/busybox:one"
    try:
        ok(pusher.wharf("tag", "busybox:latest", ref))
        ok(pusher.wharf("push", ref, timeout=TIMEOUT))
        pulls = in_parallel(lambda _: puller.wharf("pull", ref, timeout=TIMEOUT), range(8), workers=8)
        assert all(r.returncode == 0 for r in pulls), [r.stderr for r in pulls]
        ids = {json.loads(ok(puller.wharf("image", "inspect", ref)))[0]["Id"]}
        assert ids == {json.loads(ok(pusher.wharf("image", "inspect", ref)))[0]["Id"]}
        assert ok(puller.wharf("run", "--rm", "--network=none", ref, "echo", "ok")) == "ok\n"
    finally:
        server.stop()


def test_parallel_builds_sharing_a_cache(daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo shared > /shared\n"
                                    "ARG N\nRUN echo $N > /n\nCOPY f /f\n")
    (ctx / "f").write_text("content\n")
    builds = in_parallel(lambda i: daemon.wharf("build", "-q", "--build-arg", f"N={i % 4}",
                                                "-t", f"b{i}", str(ctx), timeout=TIMEOUT),
                         range(12), workers=12)
    assert all(r.returncode == 0 for r in builds), [r.stderr for r in builds]
    for i in range(12):
        out = ok(daemon.docker("run", "--rm", f"b{i}", "cat", "/shared", "/n", "/f", timeout=TIMEOUT))
        assert out == f"shared\n{i % 4}\ncontent\n"
    # The cache they shared still works: once a build has filled it, the same build
    # again runs nothing (which of the racing builds' layers it keeps is luck).
    again = [ok(daemon.wharf("build", "-q", "--build-arg", "N=0", str(ctx), timeout=TIMEOUT)).strip()
             for _ in range(2)]
    assert again[0] == again[1]


def test_stop_whose_timeout_ends_as_the_container_exits(daemon) -> None:
    """Containers that take just under ``-t 1`` to exit on SIGTERM: the stop's timeout
    fires while the exit is being handled. The SIGKILL it then sends once went to pid 0,
    wharfd's own process group, and killed the daemon."""
    def stop_one(i: int) -> str:
        cid = ok(daemon.docker("run", "-d", "busybox", "sh", "-c",
                               f"trap 'usleep 9{i % 10}0000; exit 0' TERM; sleep 600 & wait",
                               timeout=TIMEOUT)).strip()
        return ok(daemon.docker("stop", "-t", "1", cid, timeout=TIMEOUT)).strip()

    stopped = in_parallel(stop_one, range(30), workers=8)
    assert daemon.proc.poll() is None, "wharfd died"
    assert set(states(daemon)) == set(stopped) and set(states(daemon).values()) == {"exited"}
