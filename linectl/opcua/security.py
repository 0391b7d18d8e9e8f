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
import contextlib
import contextvars
import datetime
import hashlib
import os
import socket
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.crypto.security_policies import SecurityPolicyFactory, SecurityPolicyNone
from asyncua.server.internal_server import InternalServer
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import BadUserAccessDenied
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
    token: str = field(default="", repr=False)  # asyncua logs its users: never the secret

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
    """The trusted and rejected client certificates: ``pki/trusted`` and ``pki/rejected``.

    The trusted folder is re-read every few seconds (:meth:`refresh`, off the event loop), so
    a certificate an admin moves there is trusted at the client's next try; channels are
    checked against that set in memory.
    """

    def __init__(self, pki: Path) -> None:
        self.trusted = pki / "trusted"
        self.rejected = pki / "rejected"
        for folder in (self.trusted, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        self.thumbprints = self.scan()
        self._refused: set[str] = set()

    def scan(self) -> frozenset[str]:
        """The thumbprints of the certificates in ``trusted`` (blocking: reads the folder)."""
        found = set()
        for path in self.trusted.iterdir():
            known = _load(path.read_bytes()) if path.is_file() else None
            if known is not None:
                found.add(thumbprint(known))
        return frozenset(found)

    def keep(self, cert: x509.Certificate) -> Path:
        """Keep an untrusted certificate in ``rejected`` (blocking); returns its file."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in certificate_name(cert))
        path = self.rejected / f"{safe[:60]} [{thumbprint(cert)[:16]}].der"
        if not path.exists():
            path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return path

    def check(self, cert: x509.Certificate, where: str) -> bool:
        """Whether ``cert`` is trusted; a refused one is kept in ``rejected`` and logged once.

        One not in the set is looked for once more in the folder, and a refused one written
        there (blocking, a few small files: only a new or untrusted client pays for it), so a
        certificate trusted a moment ago counts and a refused one is there for the admin.
        """
        now = datetime.datetime.now(datetime.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.warning("client certificate out of its validity", cert=certificate_name(cert))
            return False
        mark = thumbprint(cert)
        if mark in self.thumbprints:
            return True
        self.thumbprints = self.scan()
        if mark in self.thumbprints:
            return True
        if mark not in self._refused:
            self._refused.add(mark)
            kept = self.keep(cert)
            log.warning(
                "refused an untrusted client certificate; an admin may move it from the "
                "rejected folder into the trusted one",
                cert=certificate_name(cert),
                at=where,
                kept=str(kept),
            )
        return False

    async def refresh(self, every_s: float = 2.0) -> None:
        """Re-read the trusted folder, for ever (a removed certificate stops being trusted)."""
        while True:
            self.thumbprints = await asyncio.to_thread(self.scan)
            await asyncio.sleep(every_s)

    async def validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        """asyncua's certificate validator (CreateSession's client certificate)."""
        if not self.check(cert, f"session of {app.ApplicationUri}"):
            raise ServiceError(StatusCodes.BadCertificateUntrusted)


class TrustedChannels(SecurityPolicyFactory):
    """Opens a secure channel only for a trusted client certificate (asyncua itself checks
    certificates only when CreateSession carries one)."""

    def __init__(self, factory: SecurityPolicyFactory, trust: ClientTrust) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            factory.cls,
            factory.mode,
            factory.certificate,
            factory.private_key,
            permission_ruleset=factory.permission_ruleset,
            certificate_chain=factory.certificate_chain,
        )
        self.trust = trust

    def create(self, peer_certificate: bytes | None) -> Any:
        if self.cls is not SecurityPolicyNone:
            if not peer_certificate:
                raise BadUserAccessDenied
            cert = x509.load_der_x509_certificate(peer_certificate)
            if not self.trust.check(cert, "secure channel"):
                raise BadUserAccessDenied  # asyncua then closes the connection at once
        return super().create(peer_certificate)  # type: ignore[no-untyped-call]


class RefuseAll(PermissionRuleset):
    """What a channel without security may do when the None policy is off: nothing beyond
    finding the endpoints (asyncua opens a None channel even when none is offered)."""

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        return False


class LineServer(Server):
    """asyncua's server with linectl's channel rules: trusted client certificates only, and
    nothing at all over a None channel unless ``allow_none_policy``."""

    def __init__(self, users: Any, trust: ClientTrust, allow_none_policy: bool) -> None:
        super().__init__(user_manager=users)
        self.trust = trust
        self.allow_none_policy = allow_none_policy

    async def _setup_server_nodes(self) -> None:
        await super()._setup_server_nodes()  # the endpoints, as configured
        self._policies[:] = [TrustedChannels(p, self.trust) for p in self._policies]
        if not self.allow_none_policy:  # not offered, but refused outright if used anyway
            refuse = SecurityPolicyFactory(  # type: ignore[no-untyped-call]
                SecurityPolicyNone, ua.MessageSecurityMode.None_, permission_ruleset=RefuseAll()
            )
            self._policies.append(refuse)


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
        token = str(doc.get("token", ""))
        if status != 201 and password:  # a machine account: its API token is its password
            with contextlib.suppress(DaemonUnavailable):
                known, whose = self.link.whoami_blocking(password)
                if known == 200 and whose.get("user") == username and whose.get("via") == "token":
                    status, doc, token = 201, whose, password
        if status != 201:
            log.info("OPC UA login refused", user=username, why=doc.get("detail", status))
            return None
        user = LineUser(
            role=UserRole.User,
            name=str(doc["user"]),
            linectl_role=str(doc["role"]),
            token=token,
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
