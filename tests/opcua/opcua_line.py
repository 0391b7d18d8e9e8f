"""The OPC UA server against the simulated line: simulators + daemon (with its control API) in
the test's event loop, ``linectl opcua`` as a real process, and OPC UA clients with their own
certificates, trusted by copying them into the server's ``pki/trusted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from linectl.service.api import ControlApi
from tests.e2e.hmi_line import observer_process, serve_api
from tests.e2e.rig import Rig, line_rig
from tests.people import People

REPO = Path(__file__).resolve().parents[2]
CLIENT_URI = "urn:linectl:tests:opcua-client"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_certificate(folder: Path, name: str = "test-client") -> tuple[Path, Path]:
    """An OPC UA client certificate (DER) and key (PEM) for ``CLIENT_URI``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        name,
        {},
        [x509.UniformResourceIdentifier(CLIENT_URI), x509.DNSName("localhost")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


def config_text(rig: Rig, api_port: int, opcua_port: int, extra: str = "") -> str:
    tmp = rig.tmp
    return f"""
[line]
id = "e2e-line"
name = "E2E line"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7
target_packs_per_minute = 1500

[ledger]
path = "{rig.config.ledger.path}"

[control]
port = {api_port}

[opcua]
host = "127.0.0.1"
port = {opcua_port}
state_dir = "{tmp / "opcua"}"
token_file = "{tmp / "opcua.token"}"
{extra}
"""


@dataclass
class OpcuaLine:
    rig: Rig
    api: ControlApi
    server: asyncio.subprocess.Process
    url: str
    people: People
    log: Path
    client_cert: Path
    client_key: Path

    @property
    def pki(self) -> Path:
        return self.rig.tmp / "opcua" / "pki"

    def trust_client(self) -> None:
        shutil.copy(self.client_cert, self.pki / "trusted" / self.client_cert.name)

    @contextlib.asynccontextmanager
    async def client(
        self,
        user: str | None,
        password: str | None = None,
        mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt,
    ) -> AsyncIterator[Client]:
        """A connected asyncua client, logged in as ``user`` (None: anonymous)."""
        client = Client(self.url, timeout=30)
        client.application_uri = CLIENT_URI
        if mode is not ua.MessageSecurityMode.None_:  # None: no certificate, nothing signed
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=str(self.client_cert),
                private_key=str(self.client_key),
                mode=mode,
            )
        if user is not None:
            client.set_user(user)
            client.set_password(password or "")
        await client.connect()
        try:
            yield client
        finally:
            await client.disconnect()


@contextlib.asynccontextmanager
async def opcua_line(tmp: Path, extra: str = "", **rig_options: Any) -> AsyncIterator[OpcuaLine]:
    """The line (``line_rig`` options), its control API and ``linectl opcua`` as a process."""
    async with line_rig(tmp, **rig_options) as rig:
        people = People(rig.ledger.path)
        await asyncio.to_thread(people.add, "opcua", "machine", "OPC UA server")
        await asyncio.to_thread(people.token, "opcua", tmp / "opcua.token")
        api = await serve_api(rig, 0)
        try:
            api_port = int(api.url.rsplit(":", 1)[1])
            config = tmp / "opcua-line.toml"
            config.write_text(config_text(rig, api_port, free_port(), extra))
            cert, key = await asyncio.to_thread(client_certificate, tmp / "client")
            log = tmp / "opcua.log"
            async with observer_process("opcua", config, log, "opc.tcp://") as (proc, url):
                yield OpcuaLine(rig, api, proc, url, people, log, cert, key)
        finally:
            await api.close()
