"""Without a cluster store, overlay networks are refused with a message that says why.

The cross-host scenarios (three hosts, etcd) are in tests/integration/overlay.
"""

from __future__ import annotations


def test_overlay_needs_a_cluster_store(wharfd) -> None:
    r = wharfd.wharf("network", "create", "-d", "overlay", "wharf-test-ov")
    assert r.returncode != 0
    assert "overlay networks need a cluster store" in r.stderr
    assert "--cluster-store" in r.stderr
    assert "wharf-test-ov" not in wharfd.wharf("network", "ls").stdout


def test_docker_cli_sees_the_same_refusal(wharfd) -> None:
    r = wharfd.docker("network", "create", "--driver", "overlay", "wharf-test-ov2")
    assert r.returncode != 0
    assert "cluster store" in r.stderr
