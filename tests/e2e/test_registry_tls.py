"""Per-registry TLS from ``--certs-dir`` (issue #18): Docker's ``certs.d/<host:port>/``
``ca.crt``, ``client.cert``, ``client.key``, and hosts.toml's ``ca``/``client`` for a
mirror, against wharf's registry serving TLS on loopback and asking for a client
certificate (``--tls-ca``). Read at each operation: the tests edit the files between
commands of one daemon."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from support import cri
from support.commands import ok
from support.pki import PKI, make_pki

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import TLSRegistry, free_port  # noqa: E402

UNKNOWN_AUTHORITY = "tls: failed to verify certificate: x509: certificate signed by unknown authority"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_registry(tmp_path_factory: pytest.TempPathFactory, pki: PKI) -> Iterator[TLSRegistry]:
    """wharf's registry over TLS that accepts only clients with a certificate of ``pki``'s CA."""
    server = TLSRegistry(tmp_path_factory.mktemp("registry") / "root", pki.server_cert, pki.server_key, pki.ca)
    yield server
    server.stop()


def _run(d: Any, *args: str) -> tuple[int, str]:
    r = d.wharf(*args)
    return r.returncode, r.stdout + r.stderr


def _put(d: Path, files: dict[str, Path]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copyfile(source, d / name)


def test_certs_d_ca_and_client_pair(make_wharfd: Any, mtls_registry: TLSRegistry, pki: PKI) -> None:
    d = make_wharfd()
    host_dir = d.certs_dir / mtls_registry.addr
    ref = f"{mtls_registry.addr}/team/tls:v1"
    ok(d.wharf("tag", "busybox:latest", ref))

    # dockerd's refusal of a client certificate without its key, at the operation
    _put(host_dir, {"client.cert": pki.client_cert})
    code, out = _run(d, "push", ref)
    assert code != 0 and ("missing key client.key for client certificate client.cert. "
                          "CA certificates must use the extension .crt") in out, out

    # the pair alone: the registry's certificate is checked, against the system's roots
    _put(host_dir, {"client.key": pki.client_key})
    code, out = _run(d, "push", ref)
    assert code != 0 and f'Get "https://{mtls_registry.addr}/v2/": {UNKNOWN_AUTHORITY}' in out, out

    # with the CA: push, login and pull, the client certificate sent each time
    _put(host_dir, {"ca.crt": pki.ca})
    assert "digest: sha256:" in ok(d.wharf("push", ref))
    status, body = d.api("POST", "/auth", {"username": "u", "password": "p",
                                           "serveraddress": mtls_registry.addr})
    assert status == 200 and body["Status"] == "Login Succeeded", body
    ok(d.wharf("rmi", ref))
    pull = d.docker("pull", ref)
    assert pull.returncode == 0 and f"Downloaded newer image for {ref}" in pull.stdout, pull.stderr
    run = d.wharf("run", "--rm", "--network=none", ref, "echo", "over-tls")
    assert run.returncode == 0 and run.stdout.strip() == "over-tls", run.stderr

    # the CA without the pair: the registry refuses the handshake
    for name in ("client.cert", "client.key"):
        (host_dir / name).unlink()
    ok(d.wharf("rmi", ref))
    code, out = _run(d, "pull", ref)
    assert code != 0 and f'"https://{mtls_registry.addr}/v2/"' in out, out
    shutil.rmtree(host_dir)


def test_hosts_toml_ca_and_client_for_a_mirror(make_wharfd: Any, mtls_registry: TLSRegistry,
                                               pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> None:
    """``example.test`` pulls from the TLS registry as its mirror (the server is a dead
    loopback port), by Docker's API and by the CRI."""
    d = make_wharfd()
    _put(d.certs_dir / mtls_registry.addr, {"ca.crt": pki.ca, "client.cert": pki.client_cert,
                                            "client.key": pki.client_key})
    ok(d.wharf("tag", "busybox:latest", f"{mtls_registry.addr}/library/mirrored:v1"))
    ok(d.wharf("push", f"{mtls_registry.addr}/library/mirrored:v1"))
    shutil.rmtree(d.certs_dir / mtls_registry.addr)  # from here on, only hosts.toml says how
    pushed = json.loads(ok(d.wharf("image", "inspect", "busybox:latest")))[0]["Id"]

    hosts = d.certs_dir / "example.test"
    _put(hosts, {"ca.pem": pki.ca})
    head = f'server = "http://127.0.0.1:{free_port()}"\n[host."https://{mtls_registry.addr}"]\n'
    client = f'  client = [["{pki.client_cert}", "{pki.client_key}"]]\n'
    (hosts / "hosts.toml").write_text(head + client)
    code, out = _run(d, "pull", "example.test/library/mirrored:v1")
    assert code != 0 and "connection refused" in out, out  # the server's error, after the mirror's
    assert UNKNOWN_AUTHORITY in d.log(), d.log()

    (hosts / "hosts.toml").write_text(head + '  ca = "ca.pem"\n' + client)
    pull = d.docker("pull", "example.test/library/mirrored:v1")
    assert pull.returncode == 0, pull.stderr
    assert json.loads(ok(d.wharf("image", "inspect", "example.test/library/mirrored:v1")))[0]["Id"] == pushed

    ok(d.wharf("rmi", "example.test/library/mirrored:v1"))
    crictl = cri.Crictl(cri.unpack(tmp_path_factory.mktemp("cri-tools")) / "crictl", d)
    crictl.ok("pull", "example.test/library/mirrored:v1")
    assert json.loads(ok(d.wharf("image", "inspect", "example.test/library/mirrored:v1")))[0]["Id"] == pushed
