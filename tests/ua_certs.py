"""OPC UA application certificates for tests: a CA-less self-signed certificate per application
(server or client), written as DER certificate + PEM key, and the simulator's trust set-up.

Made fresh per test (an RSA 2048 key takes a fraction of a second); nothing is committed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulators.opcua_security import EndpointSecurity, thumbprint


@dataclass(frozen=True)
class AppCert:
    """One application's certificate (DER) and private key (PEM) files."""

    cert: Path
    key: Path
    thumbprint: str

    def security(self, mode: str = "SignAndEncrypt") -> str:
        """The asyncua security string a client configures with this certificate."""
        return f"Basic256Sha256,{mode},{self.cert},{self.key}"


def make_cert(directory: Path, name: str, uri: str, *, server: bool = False) -> AppCert:
    """A certificate for ``uri`` (CN ``name``) in ``directory``/``name``.der and .pem."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    use = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(uri),
        x509.DNSName(socket.gethostname()),
        x509.DNSName("localhost"),
    ]
    subject = {"organizationName": "linectl tests"}
    cert = generate_self_signed_app_certificate(key, name, subject, names, [use])
    cert_path, key_path = directory / f"{name}.der", directory / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    return AppCert(cert_path, key_path, thumbprint(cert))


@dataclass(frozen=True)
class SecureSite:
    """A simulator's endpoint security with one trusted client (the line) and one stranger."""

    endpoint: EndpointSecurity
    line: AppCert
    stranger: AppCert
    user: str
    password: str
    password_file: Path


def secure_site(tmp: Path, server_name: str, *, refuse_none: bool = True) -> SecureSite:
    """Server and client certificates under ``tmp``; only the line's client is trusted."""
    server = make_cert(tmp / "server", server_name, f"urn:linectl:test:{server_name}", server=True)
    line = make_cert(tmp / "client", "line-1", "urn:linectl:line:line-1")
    stranger = make_cert(tmp / "client", "stranger", "urn:example:stranger")
    trusted = tmp / "trusted"
    trusted.mkdir()
    (trusted / "line-1.der").write_bytes(line.cert.read_bytes())
    password = "pw-" + server_name + "-0123456789"
    password_file = tmp / "client" / "password"
    password_file.write_text(password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    endpoint = EndpointSecurity(
        server.cert,
        server.key,
        trusted,
        {"line-1": password},
        refuse_none=refuse_none,
        rejected=tmp / "rejected",
    )
    return SecureSite(endpoint, line, stranger, "line-1", password, password_file)
