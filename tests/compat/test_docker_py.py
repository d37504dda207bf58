"""docker-py's own integration suite against a wharfd of its own: every test that
passes on Docker must pass on wharf (issue 15).

The suite (16 files of docker-py's ``tests/integration``, at the commit the
compat directory holds; see its README) runs as a subprocess, sequentially, as
its authors run it against dockerd: ``DOCKER_HOST`` names a private wharfd that
has offline stand-ins for the images the tests use (busybox with a LABEL per
tag, so each tag has its own image ID) and a loopback registry, wharf's own,
as its Docker Hub mirror holding ``library/<name>`` copies of them. Its
results (junit XML) are compared with ``docker_py_expected_failures.txt``:

* a failure not listed fails this test, with its traceback printed;
* a test listed as failing on wharf that now passes fails it too (strike it
  from the list: the list only shrinks);
* tests listed as failing on Docker on this kind of machine, and wharf's
  races listed as flaky (they pass on Docker every time: issue 15), may do
  either.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from compatdir import candidates, compat_dir
from support.daemon import Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry"))
from regserver import RegistryServer  # noqa: E402

FILES = """api_client_test.py errors_test.py api_container_test.py api_exec_test.py
    api_healthcheck_test.py api_image_test.py api_build_test.py api_network_test.py
    api_volume_test.py client_test.py models_containers_test.py models_images_test.py
    models_networks_test.py models_volumes_test.py models_resources_test.py
    regression_test.py""".split()
#: they need a swarm, which wharf (and the Docker it is compared with) is not in
SWARM_ONLY = ("test_create_network_attachable", "test_create_network_ingress",
              "test_create_inspect_network_with_scope")
#: tag → what its stand-in adds to busybox (wharf's own bootstrap image) besides its
#: LABEL: alpine's accounts that the tests use (``exec`` as ``postgres``); a layer of
#: hello-world's own (pruning it must reclaim space)
STAND_INS = {
    "alpine:3.10": "RUN echo 'postgres:x:70:70::/var/lib/postgresql:/bin/sh' >> /etc/passwd"
                   " && echo 'postgres:x:70:' >> /etc/group",
    "hello-world:latest": "RUN echo 'Hello from a stand-in for hello-world' > /hello",
}
STAND_INS["alpine:latest"] = STAND_INS["alpine:3.10"]
IMAGES = ("busybox:latest", *STAND_INS)
#: a hang fails one test, not the run
TEST_TIMEOUT = 120
EXPECTED = Path(__file__).with_name("docker_py_expected_failures.txt")


@dataclass
class Expected:
    """The list: test ID → reason, for Docker's failures, wharf's, and wharf's races."""

    docker: dict[str, str] = field(default_factory=dict)
    wharf: dict[str, str] = field(default_factory=dict)
    flaky: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Expected":
        """Lines ``docker|wharf|flaky <file>::<class>::<test> <reason>``; ``#`` comments."""
        expected = cls()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            kind, test_id, reason = (line.split(None, 2) + [""])[:3]
            assert kind in ("docker", "wharf", "flaky") and "::" in test_id, f"{path}:{number}: {line!r}"
            getattr(expected, kind)[test_id] = reason
        return expected

    def kind(self, test_id: str) -> str | None:
        """Which list names the test, if any."""
        return next((k for k in ("docker", "wharf", "flaky") if test_id in getattr(self, k)), None)


@dataclass
class Outcome:
    passed: bool
    skipped: bool
    details: str  # the failure's or error's text (traceback)


def read_junit(path: Path) -> dict[str, Outcome]:
    """Test ID (``api_container_test.py::KillTest::test_kill``) → its outcome; a test
    with a failure in its call and an error in its teardown counts as failed once."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module, _, cls = case.get("classname", "").removeprefix("tests.integration.").partition(".")
        test_id = f"{module}.py::{cls}::{case.get('name')}" if cls else f"{module}.py::{case.get('name')}"
        bad = [e for e in case if e.tag in ("failure", "error")]
        details = "\n".join(f"{e.get('message', '')}\n{e.text or ''}" for e in bad)
        failed = bool(bad)
        previous = outcomes.get(test_id)
        if previous is not None:  # the same test again: its teardown's error
            failed = failed or not previous.passed
            details = "\n".join(d for d in (previous.details, details) if d)
        skipped = not failed and any(e.tag == "skipped" for e in case)
        outcomes[test_id] = Outcome(passed=not failed, skipped=skipped, details=details)
    return outcomes


def verdict(outcomes: dict[str, Outcome], expected: Expected) -> list[str]:
    """What is wrong with a run, as lines for the report (none: it passes)."""
    problems = []
    for test_id, outcome in sorted(outcomes.items()):
        if outcome.passed or expected.kind(test_id):
            continue
        problems.append(f"FAILED (passes on Docker) {test_id}\n{outcome.details.rstrip()}\n")
    for test_id, reason in sorted({**expected.flaky, **expected.wharf}.items()):
        outcome = outcomes.get(test_id)
        if outcome is None:
            problems.append(f"NOT RUN {test_id}: listed as failing on wharf ({reason}); "
                            f"strike it from {EXPECTED.name} if it was renamed or removed")
        elif outcome.passed and not outcome.skipped and test_id in expected.wharf:
            problems.append(f"FIXED {test_id}: it passes now; strike it from {EXPECTED.name}")
    return problems


def _build_stand_in(d: Daemon, tag: str, context: Path) -> None:
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(
        f'FROM busybox:latest\n{STAND_INS[tag]}\nLABEL wharf.compat.stand-in="{tag}"\n')
    r = d.wharf("build", "-q", "-t", tag, str(context))
    assert r.returncode == 0, f"building the stand-in {tag}: {r.stderr}"


def _mirror(d: Daemon, registry: RegistryServer) -> None:
    """Put a copy of every image into the registry as Docker Hub names it (library/<name>)."""
    for image in IMAGES:
        remote = f"{registry.addr}/library/{image}"
        for args in (("tag", image, remote), ("push", remote), ("rmi", remote)):
            r = d.wharf(*args)
            assert r.returncode == 0, f"wharf {' '.join(args)}: {r.stderr}"


def _remove_leftovers(d: Daemon) -> None:
    """What docker-py's failed tests left (containers, networks, volumes) is theirs, not
    a leak of wharf's: remove it as a user would; the leak check then looks at what
    wharf left in the kernel."""
    try:
        status, containers = d.api("GET", "/containers/json", params={"all": 1})
        for c in containers if status == 200 else []:
            d.api("DELETE", f"/containers/{c['Id']}", params={"force": 1, "v": 1})
        d.api("POST", "/networks/prune")
        d.api("POST", "/volumes/prune", params={"filters": '{"all": ["true"]}'})
    except OSError:  # a daemon that died is reported by the leak check
        pass


@pytest.fixture(scope="module")
def docker_py_dir() -> Path:
    found = compat_dir()
    if found is None:
        pytest.fail("docker-py's suite was not found (set WHARF_COMPAT_DIR to the compat "
                    "directory); looked in: " + ", ".join(map(str, candidates())), pytrace=False)
    try:
        import docker  # noqa: F401
        import pytest_timeout  # noqa: F401
    except ImportError as e:
        pytest.fail(f"{e}: run scripts/setup.sh --test (it installs docker-py from {found})",
                    pytrace=False)
    return found / "docker-py"


@pytest.fixture(scope="module")
def compat_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A private wharfd with the stand-in images, whose Docker Hub mirror is a
    loopback registry holding them too; torn down with the usual leak check."""
    tmp = tmp_path_factory.mktemp("compat")
    registry = RegistryServer(tmp / "registry")
    registry.start()
    d = Daemon(extra_args=["--registry-mirror", f"http://{registry.addr}"])
    try:
        d.start()
        r = d.wharf("image", "bootstrap", "busybox")
        assert r.returncode == 0, r.stderr
        for tag in STAND_INS:
            _build_stand_in(d, tag, tmp / tag.replace(":", "-"))
        _mirror(d, registry)
        yield d
    finally:
        _remove_leftovers(d)
        problems = d.shutdown()
        registry.stop()
    assert not problems, "leaked:\n" + "\n".join(problems)


def test_docker_py_integration_suite(docker_py_dir: Path, compat_daemon: Daemon, tmp_path: Path) -> None:
    report = tmp_path / "docker-py.xml"
    env = {**compat_daemon.env, "DOCKER_TEST_API_VERSION": "1.41",
           # docker-py's run gets only pytest-timeout, not this project's plugins (xdist...)
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytest_timeout", "-p", "no:cacheprovider",
         "--timeout", str(TEST_TIMEOUT), "-q", "--tb=short", f"--junitxml={report}",
         "-k", " and ".join(f"not {name}" for name in SWARM_ONLY),
         *(f"tests/integration/{f}" for f in FILES)],
        cwd=docker_py_dir, env=env, capture_output=True, text=True)
    if not report.exists():
        pytest.fail(f"docker-py's pytest wrote no report (exit {run.returncode}):\n"
                    f"{run.stdout[-5000:]}\n{run.stderr[-5000:]}", pytrace=False)
    outcomes = read_junit(report)
    summary = run.stdout.strip().splitlines()[-1:] or ["(no summary)"]
    print(f"docker-py: {summary[0]}")
    expected = Expected.read(EXPECTED)
    for test_id, outcome in sorted(outcomes.items()):
        if not outcome.passed:
            print(f"  failed: {test_id} ({expected.kind(test_id) or 'not listed'})")
    problems = verdict(outcomes, expected)
    if problems:
        pytest.fail(f"docker-py's suite ({summary[0]}):\n\n" + "\n".join(problems)
                    + f"\n--- wharfd log tail ---\n{compat_daemon.log()[-3000:]}", pytrace=False)
