"""Generated requests against the Engine API v1.41 spec (schemathesis): no 500
and no daemon crash, on a private daemon listening on plain loopback TCP.

Bounded: ``EXAMPLES`` cases per operation. Left out: operations that would
reach a registry or a URL (pull, push, login, build's remote, distribution),
that hijack or stream forever (attach, exec start, events, stats, logs,
wait), and swarm/plugins, which wharf does not implement.
"""

from __future__ import annotations

import collections
import os

import pytest

from security_daemon import daemon_with, free_port

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

SPEC = os.path.join(os.path.dirname(__file__), "../../../shared/specs/docker-engine-api-v1.41.yaml")
EXAMPLES = int(os.environ.get("WHARF_FUZZ_EXAMPLES", "25"))
SKIP_PATHS = ("/images/create", "/images/{name}/push", "/auth", "/build", "/distribution",
              "/containers/{id}/attach", "/exec/{id}/start", "/events", "/containers/{id}/stats",
              "/containers/{id}/logs", "/containers/{id}/wait", "/session", "/swarm", "/nodes",
              "/services", "/tasks", "/secrets", "/configs", "/plugins")


@schemathesis.serializer("application/x-tar", "application/octet-stream", "text/plain")
def _raw(ctx, value) -> bytes:
    """Tar and binary bodies: whatever was generated, as bytes (garbage archives included)."""
    return value if isinstance(value, bytes) else str(value).encode()


#: path prefix -> (path parameter, an object that exists in the fuzzed daemon)
REAL = {"/containers/": ("id", "fuzz-target"), "/images/": ("name", "busybox:latest"),
        "/networks/": ("id", "bridge"), "/volumes/": ("name", "fuzz-vol")}


def aim_at_real_objects(ctx, params):
    """Half the generated ids name real objects, so handlers go past "No such ...".

    Deterministic (by the generated value's length) so runs repeat."""
    for prefix, (key, value) in REAL.items():
        if ctx.operation.path.startswith(prefix) and params and key in params \
                and len(str(params[key])) % 2 == 0:
            params[key] = value
    return params


def short_waits(ctx, query):
    """``t`` (stop/restart grace seconds) is honoured as Docker does: keep it short."""
    if ctx.operation.path.endswith(("/stop", "/restart")):
        query = dict(query or {})
        t = query.get("t")
        query["t"] = max(min(t, 2), 0) if isinstance(t, int) else 1  # -1 waits forever
    return query


def wanted(op) -> bool:
    return not op.path.startswith(SKIP_PATHS)


@pytest.mark.skipif(not os.path.exists(SPEC), reason="the API reference (../shared/specs) is not beside this checkout")
def test_generated_requests_cause_no_500(tmp_path_factory):
    port = free_port()
    schema = schemathesis.openapi.from_path(os.path.abspath(SPEC))
    counts: collections.Counter[int] = collections.Counter()
    errors: list[str] = []
    with daemon_with(tmp_path_factory.mktemp("bin"), f"-H tcp://127.0.0.1:{port} --tls=false") as d:
        base = f"http://127.0.0.1:{port}/v1.41"
        assert d.wharf("image", "bootstrap", "busybox").returncode == 0
        assert d.wharf("create", "--name", "fuzz-target", "busybox", "sleep", "600").returncode == 0
        assert d.wharf("volume", "create", "fuzz-vol").returncode == 0
        schema.hook("map_path_parameters")(aim_at_real_objects)
        schema.hook("map_query")(short_waits)
        ops = [r.ok() for r in schema.get_all_operations()]
        ops = [op for op in ops if wanted(op)]
        for op in ops:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy())
            def send(case):
                try:
                    resp = case.call(base_url=base, timeout=60)
                except Exception as e:  # noqa: BLE001 - a dropped connection is a finding
                    errors.append(f"{op.label} {case.query}: {type(e).__name__}: {e}")
                    return
                counts[resp.status_code] += 1
                if resp.status_code >= 500:
                    errors.append(f"{op.label} -> {resp.status_code} {resp.text[:200]} "
                                  f"({case.path_parameters} {case.query} {str(case.body)[:200]})")

            send()
            assert d.proc is not None and d.proc.poll() is None, f"wharfd died on {op.label}"
        summary = f"{sum(counts.values())} requests over {len(ops)} operations: {dict(counts)}"
        print(summary)
        assert not errors, summary + "\n" + "\n".join(errors[:40])
