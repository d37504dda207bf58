"""Per-registry TLS (``wharf.registry.client.certs``): Docker's certs.d files, hosts.toml's
TLS keys, which hosts are checked, and TLS failures in Go's words."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from wharf.errors import InvalidParameter
from wharf.registry.client.certs import HostTLS, Reach, reach, read_certs_dir, tls_words
from wharf.registry.client.endpoints import Endpoint, Policy
from support.pki import PKI, make_pki
from wharf.registry.client.hosts import pull_hosts


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _host_dir(root: Path, host: str, files: dict[str, Path | str]) -> Path:
    d = root / host
    d.mkdir(parents=True)
    for name, source in files.items():
        (d / name).write_text(source if isinstance(source, str) else source.read_text())
    return d


def test_crt_are_roots_and_cert_key_are_pairs_in_name_order(tmp_path: Path) -> None:
    d = _host_dir(tmp_path, "reg:5000", {"b.crt": "", "a.crt": "", "client.cert": "", "client.key": "",
                                         "hosts.toml": "", "README": ""})
    assert read_certs_dir(str(d)) == HostTLS((f"{d}/a.crt", f"{d}/b.crt"),
                                             ((f"{d}/client.cert", f"{d}/client.key"),))
    assert read_certs_dir(str(tmp_path / "missing")) == HostTLS()
    assert not HostTLS()


def test_half_client_pairs_are_refused_in_dockers_words(tmp_path: Path) -> None:
    lone_cert = _host_dir(tmp_path, "a:5000", {"client.cert": ""})
    with pytest.raises(InvalidParameter, match=r"^missing key client\.key for client certificate "
                                               r"client\.cert\. CA certificates must use the extension \.crt$"):
        read_certs_dir(str(lone_cert))
    lone_key = _host_dir(tmp_path, "b:5000", {"client.key": ""})
    with pytest.raises(InvalidParameter, match=r"^missing client certificate client\.cert for key client\.key$"):
        read_certs_dir(str(lone_key))


def test_who_is_checked(tmp_path: Path, pki: PKI) -> None:
    """Secure hosts: checked (their files' context, else the default); listed insecure ones:
    never, files unread; loopback: unchecked unless its directory has TLS files."""
    policy = Policy(["insecure.example:5000"])
    root = str(tmp_path)
    assert reach(root, Endpoint("registry.example"), policy) == Reach(("https",), True)
    assert reach(root, Endpoint("127.0.0.1:5000"), policy) == Reach(("https", "http"), False)

    for host in ("registry.example", "127.0.0.1:5000", "insecure.example:5000"):
        _host_dir(tmp_path, host, {"ca.crt": pki.ca})
    checked = reach(root, Endpoint("127.0.0.1:5000"), policy)
    assert checked.schemes == ("https",) and isinstance(checked.ssl, ssl.SSLContext)
    assert checked.ssl.verify_mode == ssl.CERT_REQUIRED and checked.ssl.check_hostname
    assert isinstance(reach(root, Endpoint("registry.example"), policy).ssl, ssl.SSLContext)
    assert reach(root, Endpoint("insecure.example:5000"), policy) == Reach(("https", "http"), False)
    # a mirror's URL names its scheme
    assert reach(root, Endpoint("127.0.0.1:5000", "http", mirror=True), policy).schemes == ("http",)


def test_context_is_kept_until_a_file_changes(tmp_path: Path, pki: PKI) -> None:
    d = _host_dir(tmp_path, "registry.example", {"ca.crt": pki.ca})
    first = reach(str(tmp_path), Endpoint("registry.example"), Policy([])).ssl
    assert reach(str(tmp_path), Endpoint("registry.example"), Policy([])).ssl is first
    (d / "client.cert").write_text(pki.client_cert.read_text())
    (d / "client.key").write_text(pki.client_key.read_text())
    assert reach(str(tmp_path), Endpoint("registry.example"), Policy([])).ssl is not first


def test_hosts_toml_tls_keys(tmp_path: Path, pki: PKI) -> None:
    """containerd's ``ca`` (string or list, relative to the file), ``client`` (file, list, or
    pairs) and ``skip_verify``; they win over the files and the loopback default."""
    d = tmp_path / "example.test"
    d.mkdir()
    (d / "hosts.toml").write_text(f'''
server = "https://example.test"
ca = ["ca.pem", "/abs/other.pem"]
[host."https://127.0.0.1:5001"]
  ca = "{pki.ca}"
  client = [["{pki.client_cert}", "{pki.client_key}"]]
  skip_verify = false
[host."https://127.0.0.1:5002"]
  client = "both.pem"
  skip_verify = true
[host."https://127.0.0.1:5003"]
''')
    first, second, third, server = pull_hosts(str(tmp_path), "example.test")
    assert first.tls == HostTLS((str(pki.ca),), ((str(pki.client_cert), str(pki.client_key)),), False)
    assert second.tls == HostTLS((), ((f"{d}/both.pem", ""),), True)
    assert third.tls is None
    assert server.tls == HostTLS((f"{d}/ca.pem", "/abs/other.pem"))

    checked = reach(str(tmp_path), first, Policy([]))
    assert checked.schemes == ("https",) and isinstance(checked.ssl, ssl.SSLContext)
    assert checked.ssl.verify_mode == ssl.CERT_REQUIRED


def test_skip_verify_still_sends_the_client_pair(tmp_path: Path, pki: PKI) -> None:
    both = tmp_path / "both.pem"
    both.write_text(pki.client_cert.read_text() + pki.client_key.read_text())
    tls = HostTLS((), ((str(both), ""),), True)
    got = reach(str(tmp_path), Endpoint("registry.example", "https", tls=tls), Policy([]))
    assert isinstance(got.ssl, ssl.SSLContext) and got.ssl.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("text, words", [
    ('ca = 5', 'invalid type 5 for "ca"'),
    ('client = [["only-one"]]', "invalid pair ['only-one'] for \"client\""),
    ('client = 1', 'invalid type 1 for "client"'),
    ('skip_verify = "yes"', "invalid type 'yes' for \"skip_verify\""),
])
def test_bad_hosts_toml_tls_keys(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "gcr.io").mkdir()
    (tmp_path / "gcr.io" / "hosts.toml").write_text(text + "\n")
    with pytest.raises(InvalidParameter, match="hosts.toml: ") as err:
        pull_hosts(str(tmp_path), "gcr.io")
    assert err.value.message.endswith(words)


def test_unreadable_client_pair_is_the_operations_error(tmp_path: Path) -> None:
    _host_dir(tmp_path, "registry.example", {"client.cert": "not a cert", "client.key": "nor a key"})
    with pytest.raises(InvalidParameter, match="failed to load X509 key pair .*client.cert"):
        reach(str(tmp_path), Endpoint("registry.example"), Policy([]))


def test_tls_failures_in_gos_words() -> None:
    unknown = ssl.SSLCertVerificationError(1, "certificate verify failed")
    unknown.verify_code, unknown.verify_message = 20, "unable to get local issuer certificate"
    assert tls_words(unknown, "h:5000") == \
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_code, mismatch.verify_message = 64, "IP address mismatch"
    assert tls_words(mismatch, "127.0.0.2:5000") == \
        "tls: failed to verify certificate: x509: certificate is not valid for 127.0.0.2"
    alert = ssl.SSLError(1, "alert")
    alert.reason = "TLSV1_ALERT_UNKNOWN_CA"
    assert tls_words(alert, "h") == "remote error: tls: unknown certificate authority"
