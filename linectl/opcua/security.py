"""Who may talk to the OPC UA server, and with what.

- The server's application instance certificate: the configured one, or an RSA 2048 one made
  at first start in the state directory (key 0600) and kept, so clients that trust it keep doing.
- Client certificates: trusted when their file is in ``pki/trusted``; an unknown one is refused
  (BadCertificateUntrusted) and kept in ``pki/rejected`` for an admin to move into trusted.
- Users: a user name and password are checked by the daemon (``POST /v1/sessions``), exactly as
  for the CLI and the HMI (lockout, expiry, directory login); the user's role decides, through
  the one permission matrix, which methods they may call. Anonymous only if the config allows.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import hashlib
import os
import socket
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from asyncua import ua
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.server.internal_server import InternalServer
from asyncua.ua.object_ids import ObjectIds
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from linectl.config import OpcuaSection
from linectl.identity import Permission, allowed
from linectl.opcua.link import DaemonLink, DaemonUnavailable

log = structlog.get_logger(__name__)

CERT_NAME = "opcua-cert.der"
KEY_NAME = "opcua-key.pem"
VALID_DAYS = 3650
WRITE = ua.NodeId(ua.Int32(ObjectIds.WriteRequest_Encoding_DefaultBinary))
CALL = ua.NodeId(ua.Int32(ObjectIds.CallRequest_Encoding_DefaultBinary))

CALLER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_caller", default=None)
"""The user of the request being served (set per request by :class:`RoleRules`)."""


class SecurityError(Exception):
    """The certificate, key or PKI directories cannot be used; the message names the file."""


@dataclass(eq=False)
class LineUser(User):
    """An OPC UA session's user: a linectl user, their role and their control API session."""

    linectl_role: str = ""
    token: str = ""

    __hash__ = object.__hash__  # kept in a WeakSet while its session lives

    def may(self, permission: Permission) -> bool:
        return allowed(self.linectl_role, permission)


# --- certificates --------------------------------------------------------------------------------


def server_certificate(config: OpcuaSection, state_dir: Path) -> tuple[Path, Path]:
    """The server's certificate and key (blocking: may make them)."""
    if config.cert_file is not None and config.key_file is not None:
        for path in (config.cert_file, config.key_file):
            if not path.is_file():
                raise SecurityError(f"the OPC UA server's certificate or key {path} is missing")
        return config.cert_file, config.key_file
    cert_path, key_path = state_dir / CERT_NAME, state_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    state_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(config.application_uri),
        x509.DNSName(host),
        x509.DNSName("localhost"),
    ]
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        f"linectl OPC UA server@{host}",
        {"organizationName": "linectl (self-signed)"},
        names,
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        days=VALID_DAYS,
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(cert_gen.dump_private_key_as_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    log.info("made the OPC UA server certificate", cert=str(cert_path))
    return cert_path, key_path


def _load(data: bytes) -> x509.Certificate | None:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


def thumbprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


class ClientTrust:
    """The trusted and rejected client certificates: ``pki/trusted`` and ``pki/rejected``."""

    def __init__(self, pki: Path) -> None:
        self.trusted = pki / "trusted"
        self.rejected = pki / "rejected"
        for folder in (self.trusted, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)

    def is_trusted(self, cert: x509.Certificate) -> bool:
        """Whether a file in ``trusted`` holds ``cert`` (blocking: reads the folder each time,
        so a certificate an admin moved there is trusted at the client's next try)."""
        wanted = thumbprint(cert)
        for path in self.trusted.iterdir():
            known = _load(path.read_bytes()) if path.is_file() else None
            if known is not None and thumbprint(known) == wanted:
                return True
        return False

    def reject(self, cert: x509.Certificate) -> Path:
        """Keep an untrusted certificate in ``rejected`` (blocking); returns its file."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in certificate_name(cert))
        path = self.rejected / f"{safe[:60]} [{thumbprint(cert)[:16]}].der"
        if not path.exists():
            path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return path

    async def validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        """asyncua's certificate validator: refuse (and keep) what is not trusted."""
        now = datetime.datetime.now(datetime.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.warning("client certificate out of its validity", cert=certificate_name(cert))
            raise ua.uaerrors.BadCertificateTimeInvalid
        if await asyncio.to_thread(self.is_trusted, cert):
            return
        kept = await asyncio.to_thread(self.reject, cert)
        log.warning(
            "refused an untrusted client certificate; move it into the trusted folder to allow it",
            cert=certificate_name(cert),
            application=app.ApplicationUri,
            kept=str(kept),
        )
        raise ua.uaerrors.BadCertificateUntrusted


# --- users and rights ----------------------------------------------------------------------------


class LineUsers:
    """asyncua's user manager: logins checked by the daemon, anonymous only if allowed."""

    def __init__(self, link: DaemonLink, allow_anonymous: bool) -> None:
        self.link = link
        self.allow_anonymous = allow_anonymous
        self.live: weakref.WeakSet[LineUser] = weakref.WeakSet()

    def get_user(
        self,
        iserver: InternalServer,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is None:
            if certificate is None and self.allow_anonymous:
                return User(role=UserRole.Anonymous)
            log.info("refused an OPC UA session without a user name")
            return None
        try:
            status, doc = self.link.login_blocking(username, password or "")
        except DaemonUnavailable as exc:
            log.warning("OPC UA login impossible: the daemon did not answer", why=str(exc))
            return None
        if status != 201:
            log.info("OPC UA login refused", user=username, why=doc.get("detail", status))
            return None
        user = LineUser(
            role=UserRole.User,
            name=str(doc["user"]),
            linectl_role=str(doc["role"]),
            token=str(doc["token"]),
        )
        self.live.add(user)
        log.info("OPC UA login", user=user.name, role=user.linectl_role)
        return user


class RoleRules(PermissionRuleset):
    """asyncua's per-request check: reads for every user, writes refused to a role without
    ``line.run``; method calls are then checked method by method (:mod:`methods`)."""

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        CALLER.set(user)
        if action_type_id == WRITE:
            return isinstance(user, LineUser) and user.may(Permission.LINE_RUN)
        if action_type_id == CALL:
            return isinstance(user, LineUser)
        return user.role in (UserRole.User, UserRole.Admin, UserRole.Anonymous)
