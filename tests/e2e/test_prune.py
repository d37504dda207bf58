"""``container prune`` and ``system prune`` (``-a``, ``--volumes``, ``--filter``), through
wharf's CLI and docker's, on a private daemon (a prune takes everything unused)."""

from __future__ import annotations

import json

import pytest

from support.commands import ok

pytestmark = pytest.mark.root


def _ids(d, kind: str) -> set[str]:
    args = {"container": ["ps", "-aq", "--no-trunc"], "network": ["network", "ls", "-q"],
            "volume": ["volume", "ls", "-q"], "image": ["images", "-aq", "--no-trunc"]}[kind]
    return set(ok(d.docker(*args)).strip().split())


def test_container_prune_by_label_and_until(make_wharfd):
    d = make_wharfd()
    keep = ok(d.docker("create", "--label", "keep=1", "busybox", "true")).strip()
    plain = ok(d.docker("create", "busybox", "true")).strip()
    running = ok(d.docker("run", "-d", "busybox", "sleep", "600")).strip()
    assert ok(d.docker("container", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z")).strip() \
        == "Total reclaimed space: 0B"
    r = d.wharf("container", "prune", "-f", "--filter", "label!=keep")
    assert ok(r).strip().splitlines() == ["Deleted Containers:", plain, "", "Total reclaimed space: 0B"]
    assert _ids(d, "container") == {keep, running}
    r = d.wharf("container", "prune", input="n\n")
    assert r.stdout == ("WARNING! This will remove all stopped containers.\n"
                        "Are you sure you want to continue? [y/N] ")
    assert _ids(d, "container") == {keep, running}
    ok(d.docker("container", "prune", "-f")).strip()
    assert _ids(d, "container") == {running}
    d.docker("rm", "-f", running)


def test_system_prune(make_wharfd):
    d = make_wharfd()
    stopped = ok(d.docker("create", "busybox", "true")).strip()
    running = ok(d.docker("run", "-d", "--name", "up", "busybox", "sleep", "600")).strip()
    ok(d.docker("network", "create", "unused")).strip()
    ok(d.docker("volume", "create", "unusedvol")).strip()
    first = ok(d.docker("commit", stopped, "made:1")).strip()
    ok(d.docker("commit", "-c", "ENV X=1", stopped, "made:1")).strip()  # the first is dangling now
    r = d.wharf("system", "prune", input="n\n")
    assert r.stdout.startswith(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by "
        "at least one container\n  - all dangling images\n  - all dangling build cache\n\n"
        "Are you sure you want to continue? [y/N] ")
    out = ok(d.wharf("system", "prune", "-f")).strip()
    assert f"Deleted Containers:\n{stopped}\n" in out and "Deleted Networks:\nunused\n" in out
    assert f"deleted: {first}" in out and out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert _ids(d, "container") == {running}
    assert "unusedvol" in _ids(d, "volume")  # volumes only with --volumes
    images = json.loads(d.docker("images", "--format", "{{json .Repository}}").stdout.replace(
        "\n", ",").join("[]").replace(",]", "]"))
    assert set(images) == {"busybox", "made"}
    r = d.wharf("system", "prune", "-f", "--volumes", "--filter", "until=1h")
    assert r.returncode != 0 and 'The "until" filter is not supported with "--volumes"' in r.stderr
    ok(d.wharf("system", "prune", "-f", "-a", "--volumes")).strip()
    assert "unusedvol" not in _ids(d, "volume")
    assert ok(d.docker("images", "--format", "{{.Repository}}")).strip().splitlines() == ["busybox"]
    assert _ids(d, "container") == {running}
    # docker's own CLI: an anonymous volume left by a removed container goes with --volumes
    anon = ok(d.docker("create", "-v", "/data", "busybox", "true")).strip()
    volume = json.loads(d.docker("inspect", anon).stdout)[0]["Mounts"][0]["Name"]
    ok(d.docker("rm", anon)).strip()
    assert ok(d.docker("system", "prune", "-f", "--volumes")).strip().splitlines()[:2] == \
        ["Deleted Volumes:", volume]
    assert _ids(d, "volume") == set()
    d.docker("rm", "-f", running)
