"""HTTPS for the HMI: the configured certificate, or a self-signed one made at first start.

The self-signed key and certificate are written once to the HMI's state directory (key 0600)
and reused, so a browser that was told to trust it keeps trusting it across restarts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from linectl.config import HmiSection

CERT_NAME = "hmi-cert.pem"
KEY_NAME = "hmi-key.pem"
VALID_DAYS = 3650


class TlsError(Exception):
    """The certificate or key cannot be used; the message names the file."""


def self_signed(state_dir: Path, host_names: list[str] | None = None) -> tuple[Path, Path]:
    """The self-signed certificate and key in ``state_dir``, made now if missing (blocking)."""
    cert_path, key_path = state_dir / CERT_NAME, state_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    state_dir.mkdir(parents=True, exist_ok=True)
    names = host_names or [socket.gethostname(), "localhost"]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "linectl HMI (self-signed)"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names)]
    alt += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(config: HmiSection, state_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """The TLS context of the HMI (blocking: may create the certificate) and the cert used."""
    if config.cert_file is not None and config.key_file is not None:
        cert, key = config.cert_file, config.key_file
    else:
        cert, key = self_signed(state_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use the HMI certificate {cert} with key {key}: {exc}") from None
    return context, cert
