"""HEALTHCHECK helpers: the probe's argv, a container's check merged with its image's, ps words."""

from __future__ import annotations

from wharf.engine import health
from wharf.engine.container import status_text
from wharf.engine.timefmt import rfc3339nano


def test_probe_command():
    assert health.probe_command({"Test": ["CMD", "true", "x"]}, None) == ["true", "x"]
    assert health.probe_command({"Test": ["CMD-SHELL", "curl -f localhost"]}, None) == \
        ["/bin/sh", "-c", "curl -f localhost"]
    assert health.probe_command({"Test": ["CMD-SHELL", "x"]}, ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "x"]
    assert health.probe_command({"Test": ["NONE"]}, None) is None
    assert health.probe_command(None, None) is None


def test_container_check_fills_gaps_from_image():
    image = {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert health.merged(None, image) == image
    assert health.merged({"Interval": 1_000_000_000}, image) == {**image, "Interval": 1_000_000_000}
    assert health.merged({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert health.merged(None, None) is None


def test_ps_status_words():
    state = {"Running": True, "StartedAt": rfc3339nano(0)}
    now = 5.0
    assert status_text({**state, "Health": {"Status": "starting"}}, now) == "Up 5 seconds (health: starting)"
    assert status_text({**state, "Health": {"Status": "healthy"}}, now) == "Up 5 seconds (healthy)"
    assert status_text({**state, "Health": {"Status": "unhealthy"}}, now) == "Up 5 seconds (unhealthy)"
    assert status_text(state, now) == "Up 5 seconds"
