"""Secure OPC UA client links (the PLC driver, the pool-manager client): security string, client
certificate and user login on an asyncua Client, and refusals said in words that name the cause.

The security string is asyncua's ``Policy,Mode,certificate,private_key[::key password]
[,server_certificate]`` (e.g. ``Basic256Sha256,SignAndEncrypt,/etc/linectl/opcua.der,
/etc/linectl/opcua.pem``). The client's ApplicationUri is taken from the certificate's URI
(subjectAltName), as OPC UA servers check that the two agree. A server that refuses the
certificate or the login gets an error naming the certificate file, its subject and its SHA-1
thumbprint (what an OPC UA server's admin sees in its rejected-certificates folder), or the user.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from asyncua.client.client import Client
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

#: Results that mean "the server does not accept this client certificate".
CERTIFICATE_REFUSED = frozenset(
    {
        StatusCodes.BadCertificateUntrusted,
        StatusCodes.BadCertificateInvalid,
        StatusCodes.BadCertificateRevoked,
        StatusCodes.BadCertificateTimeInvalid,
        StatusCodes.BadCertificateUriInvalid,
        StatusCodes.BadCertificateUseNotAllowed,
        StatusCodes.BadSecurityChecksFailed,
    }
)
#: Results that mean "the server does not offer this security policy or mode".
POLICY_REFUSED = frozenset(
    {StatusCodes.BadSecurityPolicyRejected, StatusCodes.BadSecurityModeRejected}
)
#: Results that mean "the server does not accept this user (or anonymous access)".
LOGIN_REFUSED = frozenset(
    {
        StatusCodes.BadUserAccessDenied,
        StatusCodes.BadIdentityTokenInvalid,
        StatusCodes.BadIdentityTokenRejected,
    }
)


class SecurityConfigError(ValueError):
    """The security settings cannot be used (malformed string, unreadable certificate)."""


@dataclass(frozen=True)
class CertificateInfo:
    """What names a certificate to a person: its file, subject, thumbprint and URI."""

    path: Path
    subject: str
    thumbprint: str  # SHA-1 of the DER bytes, hex, as OPC UA stacks show it
    uri: str | None

    def describe(self) -> str:
        return f"{self.path} ({self.subject}, SHA-1 thumbprint {self.thumbprint})"


def certificate_info(path: Path) -> CertificateInfo:
    """Read a DER or PEM certificate file (blocking: call it off the event loop)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecurityConfigError(f"cannot read certificate {path}: {exc.strerror}") from None
    try:
        cert = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_certificate(data)
        )
    except ValueError as exc:
        raise SecurityConfigError(f"{path} is not a certificate (DER or PEM): {exc}") from None
    der = cert.public_bytes(Encoding.DER)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return CertificateInfo(
        path,
        cert.subject.rfc4514_string() or "(no subject)",
        hashlib.sha1(der).hexdigest().upper(),  # an identifier (OPC UA thumbprint), not a check
        uris[0] if uris else None,
    )


def certificate_path(security: str) -> Path:
    """The client certificate a security string names (its third part)."""
    parts = security.split(",")
    if len(parts) < 4 or not parts[2].strip():
        raise SecurityConfigError(
            "security must be Policy,Mode,certificate,private_key[,server_certificate], "
            f"got {len(parts)} part(s)"
        )
    return Path(parts[2].strip())


@dataclass(frozen=True)
class ClientSecurity:
    """How a client proves itself: a security string (None: no security) and a user login."""

    security: str | None = None
    username: str | None = None
    password: str | None = None

    async def apply(self, client: Client) -> CertificateInfo | None:
        """Set up ``client`` before ``connect()``; returns the client certificate's info.

        With a security string whose server certificate is not given, asyncua first asks the
        server for its endpoints (a short unsecured exchange) to learn the certificate.
        """
        info = None
        if self.security:
            info = await asyncio.to_thread(certificate_info, certificate_path(self.security))
            if info.uri:
                client.application_uri = info.uri
            await client.set_security_string(self.security)
        if self.username:
            client.set_user(self.username)
            client.set_password(self.password or "")
        return info

    def explain(self, error: BaseException, info: CertificateInfo | None) -> str | None:
        """Words for a refusal of the certificate or of the login; None for anything else."""
        code = error.code if isinstance(error, UaStatusCodeError) else None
        name = type(error).__name__
        if code is None and "No matching endpoints" in str(error):  # asyncua, before connecting
            code, name = StatusCodes.BadSecurityPolicyRejected, f"no such endpoint ({error})"
        if code in CERTIFICATE_REFUSED:
            cert = info.describe() if info is not None else "(no client certificate configured)"
            return (
                f"the server refused the client certificate {cert}: {name}; "
                "have the server's administrator trust it"
            )
        if code in POLICY_REFUSED:
            mode = self.security.split(",")[:2] if self.security else ["None"]
            return (
                f"the server refuses the security policy {','.join(mode)}: {name}; "
                "configure a security string it offers (e.g. Basic256Sha256,SignAndEncrypt,...)"
            )
        if code in LOGIN_REFUSED:
            who = f"user {self.username!r}" if self.username else "anonymous access"
            return f"the server refused {who}: {name}"
        return None
