"""Reading a spawned process's start report while the container may stop it."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from wharf.runtime import container


@pytest.fixture
def stopped_pid():
    """A process in state T (as a tracer or SIGSTOP from inside the container leaves it)."""
    proc = subprocess.Popen(["sleep", "30"])
    os.kill(proc.pid, signal.SIGSTOP)
    os.waitpid(proc.pid, os.WUNTRACED)
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_process_stopped_after_its_exec_is_started(stopped_pid, monkeypatch) -> None:
    """The first wait timed out under load; by the look, the program had exec'd
    (pipe closed) and a tracer had stopped it: the start succeeded."""
    r, w = os.pipe()
    os.close(w)
    real = container.select.select
    calls = iter([([], [], [])])
    monkeypatch.setattr(container.select, "select",
                        lambda *a: next(calls, None) or real(*a))
    try:
        assert container._await_report(r, stopped_pid) == b""
    finally:
        os.close(r)


def test_a_process_stopped_before_its_exec_fails_the_start(stopped_pid) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(container.SpawnError, match="stopped before it could start"):
            container._await_report(r, stopped_pid)
    finally:
        os.close(r)
        os.close(w)
