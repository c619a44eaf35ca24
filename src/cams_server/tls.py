"""TLS material: a local CA and a server certificate made once under CAMS_HOME.

`serve --tls self-signed` uses it; clients trust `ca.pem` the standard way, e.g.
`SSL_CERT_FILE=$CAMS_HOME/tls/ca.pem` for Python's requests-based SDK code.

Every file is created 0600 (in a 0700 directory) with its final mode, atomically; no
moment exists at which the private keys are readable by another local user. Key files
an older version left readable are tightened.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cams_server.store.private_files import private_directory, tighten, write_private_file

__all__ = ["TlsFiles", "ensure_self_signed"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None = None


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem, replace=True)


def ensure_self_signed(
    home: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
) -> TlsFiles:
    """Create (once) a CA and a server certificate for `hosts`; return their paths."""
    directory = home / "tls"
    files = TlsFiles(directory / "server.pem", directory / "server-key.pem", directory / "ca.pem")
    private_directory(home)
    private_directory(directory)
    if files.cert.exists() and files.key.exists() and files.ca and files.ca.exists():
        for key_file in (files.key, directory / "ca-key.pem"):
            tighten(key_file, 0o600)
        return files
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cams-server local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca-key.pem", ca_key)
    _write_key(files.key, key)
    write_private_file(files.cert, cert.public_bytes(serialization.Encoding.PEM), replace=True)
    assert files.ca is not None
    write_private_file(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM), replace=True)
    return files
