"""Secure OPC UA endpoints for the simulators (PLC, central pool manager), as a real site has them.

With an :class:`EndpointSecurity` a simulator's asyncua server offers Basic256Sha256 Sign and
SignAndEncrypt with its own certificate, accepts user logins (name and password), trusts only the
client certificates found in a directory and, when told to refuse None, offers no unsecured
endpoint and no anonymous login. A refused client certificate is logged naming its subject and
SHA-1 thumbprint and copied into the rejected directory, where an admin would look to trust it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.server import Server as UaServer
from asyncua.server.user_managers import UserManager
from asyncua.ua.status_codes import StatusCodes
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

log = logging.getLogger("linectl.simulators.opcua")


@dataclass(frozen=True)
class EndpointSecurity:
    """Server certificate and key, trusted client certificates, users, and whether None is off.

    ``users`` maps a user name to its password (a simulator's test accounts, never logged).
    """

    certificate: Path
    private_key: Path
    trusted: Path
    users: Mapping[str, str] = field(default_factory=dict)
    refuse_none: bool = False
    rejected: Path | None = None
    logins: list[str] = field(default_factory=list, compare=False)  # users who logged in

    async def apply(self, server: UaServer, application_uri: str) -> None:
        """Configure ``server`` before ``start()``; its ApplicationUri is the certificate's URI
        (clients check that the two agree), ``application_uri`` if the certificate has none."""
        await server.load_certificate(str(self.certificate))
        await server.load_private_key(str(self.private_key))
        cert = await asyncio.to_thread(_load, self.certificate)
        await server.set_application_uri((cert and _uri(cert)) or application_uri)
        policies = [
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ua.SecurityPolicyType.Basic256Sha256_Sign,
        ]
        tokens: list[type] = [ua.UserNameIdentityToken]
        if not self.refuse_none:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_security_policy(policies)
        server.set_identity_tokens(tokens)
        users = Users(self.users, anonymous=not self.refuse_none, logins=self.logins)
        server.iserver.set_user_manager(users)
        server.set_certificate_validator(TrustedDirectory(self.trusted, self.rejected).validate)


class Users(UserManager):
    """asyncua user manager: the configured users (role User); anonymous only if allowed."""

    def __init__(
        self, users: Mapping[str, str], *, anonymous: bool, logins: list[str] | None = None
    ) -> None:
        self._digests = {name: _digest(pw) for name, pw in users.items()}
        self.anonymous = anonymous
        self.logins = logins if logins is not None else []

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is None:
            return User(role=UserRole.User, name="anonymous") if self.anonymous else None
        wanted = self._digests.get(username)
        if wanted is None or password is None or _digest(password) != wanted:
            log.warning("OPC UA login refused for user %r", username)
            return None
        self.logins.append(username)
        return User(role=UserRole.User, name=username)


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER bytes, upper-case hex: how OPC UA stacks name a certificate."""
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()  # an identifier


def _load(path: Path) -> x509.Certificate | None:
    data = path.read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        log.warning("OPC UA trust list: %s is not a certificate; ignored", path)
        return None


def _uri(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


class TrustedDirectory:
    """Trusts exactly the certificates in ``trusted`` (DER or PEM files; re-read at each
    session, so a certificate an admin moves in is trusted from the next connection)."""

    def __init__(self, trusted: Path, rejected: Path | None = None) -> None:
        self.trusted = trusted
        self.rejected = rejected

    def _thumbprints(self) -> set[str]:
        if not self.trusted.is_dir():
            return set()
        found = (_load(p) for p in sorted(self.trusted.iterdir()) if p.is_file())
        return {thumbprint(c) for c in found if c is not None}

    def _keep_rejected(self, cert: x509.Certificate, name: str) -> None:
        if self.rejected is None:
            return
        self.rejected.mkdir(parents=True, exist_ok=True)
        (self.rejected / f"{name}.der").write_bytes(cert.public_bytes(Encoding.DER))

    async def validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        """asyncua's certificate validator: refuse (BadCertificateUntrusted) what is not trusted."""
        now = datetime.now(UTC)
        tp = thumbprint(cert)
        subject = cert.subject.rfc4514_string()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.warning("OPC UA client certificate %s (%s): expired or not yet valid", subject, tp)
            raise ServiceError(StatusCodes.BadCertificateTimeInvalid)
        if tp not in await asyncio.to_thread(self._thumbprints):
            await asyncio.to_thread(self._keep_rejected, cert, tp)
            log.warning(
                "OPC UA client certificate refused, not trusted: %s (SHA-1 thumbprint %s, "
                "application %s); trust it by copying it into %s",
                subject,
                tp,
                app.ApplicationUri,
                self.trusted,
            )
            raise ServiceError(StatusCodes.BadCertificateUntrusted)


def add_security_arguments(p: argparse.ArgumentParser) -> None:
    """The command-line options that secure a simulator's OPC UA endpoint."""
    p.add_argument("--opcua-cert", type=Path, help="server certificate (DER or PEM): secure")
    p.add_argument("--opcua-key", type=Path, help="private key (PEM) of --opcua-cert")
    p.add_argument("--opcua-trusted", type=Path, help="directory of trusted client certificates")
    p.add_argument("--opcua-rejected", type=Path, help="refused client certificates go here")
    p.add_argument(
        "--opcua-user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD_FILE",
        help="a user who may log in (the password is read from the file); repeatable",
    )
    p.add_argument(
        "--opcua-refuse-none",
        action="store_true",
        help="offer no None endpoint and no anonymous login",
    )


def security_from_args(args: argparse.Namespace) -> EndpointSecurity | None:
    """The EndpointSecurity the options describe, None without --opcua-cert."""
    if args.opcua_cert is None:
        return None
    if args.opcua_key is None or args.opcua_trusted is None:
        raise ValueError("--opcua-cert needs --opcua-key and --opcua-trusted")
    users: dict[str, str] = {}
    for item in args.opcua_user:
        name, sep, path = item.partition(":")
        if not sep or not name or not path:
            raise ValueError(f"--opcua-user {item!r}: expected NAME:PASSWORD_FILE")
        users[name] = Path(path).read_text(encoding="utf-8").strip()
    return EndpointSecurity(
        args.opcua_cert,
        args.opcua_key,
        args.opcua_trusted,
        users,
        refuse_none=args.opcua_refuse_none,
        rejected=args.opcua_rejected,
    )
