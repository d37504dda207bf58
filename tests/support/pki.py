"""A throwaway CA with a server certificate for 127.0.0.1 and a client certificate,
made in-process with ``cryptography`` (the files tests put in certs.d)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_pki(d: Path, cn: str = "wharf-test-ca") -> PKI:
    """In ``d``: ``ca.pem`` (a CA named ``cn``), ``server.pem``/``server.key`` for
    127.0.0.1 and localhost, ``client.pem``/``client.key`` for client auth."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, *extensions: x509.ExtensionType,
              ca: bool = False) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(_name(cn))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                            critical=False)
        else:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
        for ext in extensions:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca = issue(_name(cn), ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = issue(_name("127.0.0.1"), server_key,
                   x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                x509.DNSName("localhost")]),
                   x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]))
    client = issue(_name("wharf-test-client"), client_key,
                   x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]))
    return PKI(_write_cert(ca, d / "ca.pem"), _write_cert(server, d / "server.pem"),
               _write_key(server_key, d / "server.key"), _write_cert(client, d / "client.pem"),
               _write_key(client_key, d / "client.key"))
