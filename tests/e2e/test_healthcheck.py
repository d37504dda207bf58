"""HEALTHCHECK as a user sees it in ``inspect``: results, and probes that outlast their timeout."""

from __future__ import annotations

from support.polling import eventually

_MS = 1_000_000


def test_a_probe_past_its_timeout_is_killed_and_counts_as_a_failure(wharfd, busybox):
    # each probe notes its pid, then outlasts its timeout; dockerd kills such a probe
    probe = "echo $$ >> /probes; exec sleep 300"
    status, body = wharfd.api("POST", "/containers/create", {
        "Image": busybox, "Cmd": ["sleep", "300"],
        "Healthcheck": {"Test": ["CMD-SHELL", probe], "Interval": 300 * _MS,
                        "Timeout": 300 * _MS, "Retries": 1}})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204

        def health():
            return wharfd.api("GET", f"/containers/{cid}/json")[1]["State"]["Health"]
        assert eventually(lambda: health()["Status"] == "unhealthy", timeout=30), health()
        result = health()["Log"][0]
        assert result["ExitCode"] == -1
        assert result["Output"] == "Health check exceeded timeout (300ms)"  # dockerd's words
        first = wharfd.wharf("exec", cid, "head", "-n1", "/probes", check=True).stdout.strip()
        assert first.isdigit()
        assert eventually(lambda: wharfd.wharf("exec", cid, "kill", "-0", first).returncode != 0)
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})
