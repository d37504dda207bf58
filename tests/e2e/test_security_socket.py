"""Who may talk to wharfd: the unix socket is root:wharf 0660, and TCP needs
TLS with a client certificate signed by the daemon's CA (a throwaway CA made
with openssl here), for wharf's CLI and the real docker CLI alike."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import support.daemon as daemon_mod
from security_daemon import daemon_with, free_port

NOBODY = 65534


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """ca.pem; server cert for 127.0.0.1; client cert.pem/key.pem (docker's file names)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=wharf-test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem",
                "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "1",
                "-extfile", f"{name}.ext", cwd=d)
    (d / "cert.pem").write_bytes((d / "client-cert.pem").read_bytes())
    (d / "key.pem").write_bytes((d / "client-key.pem").read_bytes())


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory):
    """A private wharfd with a TLS-verified TCP listener beside its unix socket."""
    pki = tmp_path_factory.mktemp("pki")
    make_pki(pki)
    host = f"tcp://127.0.0.1:{free_port()}"
    flags = (f"-H {host} --tlsverify --tlscacert {pki}/ca.pem --tlscert {pki}/server-cert.pem "
             f"--tlskey {pki}/server-key.pem")
    with daemon_with(tmp_path_factory.mktemp("bin"), flags) as d:
        yield d, host, pki


def test_unix_socket_is_root_and_group_wharf_only(tls_daemon):
    d, _, _ = tls_daemon
    st = os.stat(d.socket)
    gid = grp.getgrnam("wharf").gr_gid
    assert stat.S_IMODE(st.st_mode) == 0o660 and (st.st_uid, st.st_gid) == (0, gid)
    probe = [sys.executable, "-c",
             "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
             "s.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100).split()[1].decode())",
             str(d.socket)]
    os.chmod(d.exec_root, 0o755)  # let others reach the socket file itself
    stranger = subprocess.run(probe, user=NOBODY, group=NOBODY, extra_groups=[],
                              capture_output=True, text=True)
    assert stranger.returncode != 0 and "PermissionError" in stranger.stderr
    member = subprocess.run(probe, user=NOBODY, group=NOBODY, extra_groups=[gid],
                            capture_output=True, text=True)
    assert member.stdout.strip() == "200", member.stderr


def wharf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    return subprocess.run([str(daemon_mod.BIN / "wharf"), *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=60)


def test_tcp_needs_a_client_certificate(tls_daemon):
    d, host, pki = tls_daemon
    ok = wharf("-H", host, "--tlsverify", "--tlscacert", f"{pki}/ca.pem", "--tlscert",
               f"{pki}/cert.pem", "--tlskey", f"{pki}/key.pem", "ps", "-q")
    assert ok.returncode == 0, ok.stderr
    no_cert = wharf("-H", host, "--tlsverify", "--tlscacert", f"{pki}/ca.pem", "ps")
    assert no_cert.returncode != 0
    plain = wharf("-H", host, "ps")
    assert plain.returncode != 0
    # a certificate the daemon's CA did not sign is refused too
    other = pki / "other"
    other.mkdir(exist_ok=True)
    make_pki(other)
    forged = wharf("-H", host, "--tls", "--tlscert", f"{other}/cert.pem", "--tlskey",
                   f"{other}/key.pem", "ps")
    assert forged.returncode != 0


def test_environment_like_the_docker_cli(tls_daemon):
    _, host, pki = tls_daemon
    env = {"DOCKER_HOST": host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(pki)}
    r = wharf("version", "--format", "{{.Server.Version}}", env=env)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_real_docker_cli_with_tlsverify(tls_daemon):
    _, host, pki = tls_daemon
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    base = [daemon_mod.DOCKER, "-H", host, "--tlsverify", "--tlscacert", f"{pki}/ca.pem"]
    ok = subprocess.run([*base, "--tlscert", f"{pki}/cert.pem", "--tlskey", f"{pki}/key.pem",
                         "ps", "-q"], capture_output=True, text=True, env=clean, timeout=60)
    assert ok.returncode == 0, ok.stderr
    ca_only = pki / "ca-only"  # trusts the daemon, has no certificate of its own
    ca_only.mkdir(exist_ok=True)
    (ca_only / "ca.pem").write_bytes((pki / "ca.pem").read_bytes())
    refused = subprocess.run([daemon_mod.DOCKER, "-H", host, "--tlsverify", "ps"],
                             capture_output=True, text=True, timeout=60,
                             env={**clean, "DOCKER_CERT_PATH": str(ca_only)})
    assert refused.returncode != 0 and "error during connect" in refused.stderr, refused.stderr


def test_a_context_with_tls_material_for_both_clis(tls_daemon, tmp_path):
    """``context create --docker host=tcp://...,ca=,cert=,key=``: the store keeps the
    files, and either CLI reaches the TLS listener through the context."""
    _, host, pki = tls_daemon
    env = {"DOCKER_CONFIG": str(tmp_path / "config")}
    r = wharf("context", "create", "secure", "--docker",
              f"host={host},ca={pki}/ca.pem,cert={pki}/cert.pem,key={pki}/key.pem", env=env)
    assert r.returncode == 0, r.stderr
    assert wharf("--context", "secure", "ps", "-q", env=env).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    r = subprocess.run([daemon_mod.DOCKER, "--context", "secure", "ps", "-q"], capture_output=True,
                       text=True, env={**clean, **env}, timeout=60)
    assert r.returncode == 0, r.stderr
    r = wharf("context", "create", "ca-only", "--docker", f"host={host},ca={pki}/ca.pem", env=env)
    r = wharf("--context", "ca-only", "ps", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr  # no certificate: refused


def test_tcp_without_tls_is_refused_unless_asked():
    from wharf.daemon.listen import TLSOptions, server_context
    with pytest.raises(SystemExit, match="refusing a TCP listener without TLS"):
        server_context(TLSOptions())
    assert server_context(TLSOptions(tls=False)) is None
