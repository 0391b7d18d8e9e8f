"""OPC UA subscribers for a bench: ``linectl opcua`` beside the daemon and N asyncua clients
(SignAndEncrypt, each with its own trusted certificate) subscribed to the state number, the
counts and the speed, as a SCADA would be. Used by ``line_speed.py --opcua-clients N``."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.identity import ADMIN, run_cli
from harness.processes import Child, DemoFiles, free_port, toml_text

SCADA = "bench-scada"
WATCHED = (
    "BaseStateMachine.MachineState.ExecuteState.CurrentState.Number",
    "Admin.ProdProcessedCount",
    "Admin.ProdDefectiveCount",
    "Status.CurMachSpeed",
    "Serialization.Commissioned",
    "Serialization.Scrapped",
    "Serialization.PoolAvailable",
)


def start_opcua(files: DemoFiles, admin_password: str) -> tuple[Child, str, str]:
    """The accounts, the ``[opcua]`` table and ``linectl opcua``; (child, url, SCADA password)."""
    token_file = files.root / "opcua.token"
    first, password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    base = ["--config", str(files.config)]
    steps: list[tuple[list[str], str]] = [
        (["login", ADMIN], f"{admin_password}\n"),
        (["user", "add", "opcua", "--role", "machine", "--full-name", "OPC UA server"],
         f"{admin_password}\n"),
        (["user", "token", "create", "opcua", "--label", "bench", "--out", str(token_file)], ""),
        (["user", "add", SCADA, "--role", "qa", "--full-name", "Bench SCADA"],
         f"{first}\n{first}\n{admin_password}\n"),
        (["passwd", SCADA], f"{first}\n{password}\n{password}\n"),
        (["logout"], ""),
    ]  # fmt: skip
    for step, stdin in steps:
        code = run_cli([*base, "--password-stdin", *step] if stdin else base + step, stdin)
        if code != 0:
            raise RuntimeError(f"linectl {' '.join(step)} failed with exit code {code}")
    config = tomllib.loads(files.config.read_text(encoding="utf-8"))
    config["opcua"] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "state_dir": str(files.root / "opcua"),
        "token_file": str(token_file),
    }
    files.config.write_text(toml_text(config), encoding="utf-8")
    argv = [sys.executable, "-m", "linectl.cli", "opcua", "--config", str(files.config)]
    child = Child("opcua", argv, files.root / "opcua.log")
    ready = child.wait_line("linectl opcua ready:", timeout=60.0)
    return child, ready.split("url=", 1)[1].split()[0], password


def client_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    uri = f"urn:linectl:bench:{name}"
    cert = cert_gen.generate_self_signed_app_certificate(
        key, name, {}, [x509.UniformResourceIdentifier(uri)], [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


class Subscribers:
    """``count`` clients subscribed in a thread of their own; ``notifications`` counts data
    changes received, ``errors`` what went wrong."""

    def __init__(self, url: str, password: str, pki: Path, count: int, line_id: str) -> None:
        self.url, self.password, self.count, self.line_id = url, password, count, line_id
        self.notifications = 0
        self.errors: list[str] = []
        self.ready = threading.Event()
        folder = pki.parent / "bench-clients"
        folder.mkdir(parents=True, exist_ok=True)
        self.certs = [client_certificate(folder, f"scada-{n}") for n in range(count)]
        for cert, _ in self.certs:
            shutil.copy(cert, pki / "trusted" / cert.name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="opcua-subscribers", daemon=True)
        self._thread.start()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.notifications += 1

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _client(self, n: int, connected: asyncio.Queue[int]) -> None:
        cert, key = self.certs[n]
        client = Client(self.url, timeout=30)
        client.application_uri = f"urn:linectl:bench:scada-{n}"
        await client.set_security(
            SecurityPolicyBasic256Sha256, str(cert), str(key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )  # fmt: skip
        client.set_user(SCADA)
        client.set_password(self.password)
        async with client:
            ns = await client.get_namespace_index("urn:linectl:serialization")
            nodes = [client.get_node(f"ns={ns};s={self.line_id}.{path}") for path in WATCHED]
            sub = await client.create_subscription(100, self)
            await sub.subscribe_data_change(nodes)
            connected.put_nowait(n)
            assert self._stop is not None
            await self._stop.wait()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        connected: asyncio.Queue[int] = asyncio.Queue()
        tasks = [asyncio.create_task(self._client(n, connected)) for n in range(self.count)]
        try:
            async with asyncio.timeout(60):
                for _ in range(self.count):
                    await connected.get()
        except TimeoutError:
            self.errors.append("not every client subscribed within 60 s")
        self.ready.set()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                self.errors.append(f"{type(result).__name__}: {result}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
