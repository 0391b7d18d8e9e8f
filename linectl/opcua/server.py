"""``linectl opcua``: the OPC UA server process. Serves the line's PackML object and follows
the daemon through the control API.

It starts even when the daemon is down (the state reads empty until it answers) and stops
cleanly on SIGTERM. Its ready line, ``linectl opcua ready: url=opc.tcp://...``, is printed once
it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from asyncua import ua
from asyncua.server.server import Server

from linectl.config import LineConfig, load_config
from linectl.daemon_client import yield_cpu_to_the_line
from linectl.opcua.address_space import LineNodes, build_line_object
from linectl.opcua.link import DaemonLink, DaemonUnavailable
from linectl.opcua.methods import Methods
from linectl.opcua.mirror import Mirror
from linectl.opcua.nodeset import nodeset_path
from linectl.opcua.security import ClientTrust, LineServer, LineUsers, RoleRules, server_certificate

log = structlog.get_logger(__name__)

DEFAULT_TOKEN_NAME = "opcua.token"
ENDPOINT_PATH = "/linectl"
TICK_S = 1.0
KEEPALIVE_S = 120.0


class OpcuaError(Exception):
    """The OPC UA server cannot start; the message says why."""


def state_dir(config: LineConfig) -> Path:
    """Where the server keeps its certificate and the client PKI folders."""
    return config.opcua.state_dir or config.ledger.path.parent / "opcua"


def machine_token(config: LineConfig) -> str:
    """The server's own credential at the control API (blocking: reads a file)."""
    path = config.opcua.token_file or state_dir(config) / DEFAULT_TOKEN_NAME
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise OpcuaError(
            f"cannot read the OPC UA server's control API token {path}: {exc.strerror or exc} "
            "(give it a machine account: linectl user add opcua --role machine; linectl user "
            "token create opcua, into that file)"
        ) from None
    token = next((ln for ln in lines if ln), "")
    if len(token) < 16:
        raise OpcuaError(f"the token file {path} holds no token (16 characters at least)")
    return token


@dataclass
class RunningOpcua:
    server: Server
    link: DaemonLink
    nodes: LineNodes
    mirror: Mirror
    url: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop()
        await self.link.close()


class _Follower:
    """Applies the event stream to the mirror; a status refresh at most once a second catches
    what events do not carry (reject reasons, batch, packing)."""

    def __init__(self, link: DaemonLink, mirror: Mirror, users: LineUsers) -> None:
        self.link, self.mirror, self.users = link, mirror, users
        self.dirty = True

    async def event(self, name: str, data: dict[str, Any]) -> None:
        await self.mirror.event(name, data)
        if name != "snapshot":
            self.dirty = True

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self.mirror.tick()
            if self.dirty and self.link.live:
                self.dirty = False
                with contextlib.suppress(DaemonUnavailable):
                    status, doc, _ = await self.link.call("GET", "/v1/status", self.link.token)
                    if status == 200:
                        await self.mirror.snapshot(doc)

    async def keepalive(self) -> None:
        """Keep the linectl sessions of connected OPC UA users from idling out."""
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            for user in list(self.users.live):
                with contextlib.suppress(DaemonUnavailable):
                    await self.link.call("GET", "/v1/counters", user.token)


async def start_opcua(config: LineConfig) -> RunningOpcua:
    """Start the OPC UA server for ``config``: build the address space, follow the daemon."""
    opcua = config.opcua
    token = await asyncio.to_thread(machine_token, config)
    nodeset = await asyncio.to_thread(nodeset_path, opcua)
    folder = state_dir(config)
    cert, key = await asyncio.to_thread(server_certificate, opcua, folder)
    trust = await asyncio.to_thread(ClientTrust, folder / "pki")
    link = DaemonLink(config.control, token)
    users = LineUsers(link, opcua.allow_anonymous)
    server = LineServer(users, trust, opcua.allow_none_policy)
    await server.init()
    host = "localhost" if opcua.host in ("0.0.0.0", "::", "") else opcua.host
    url = f"opc.tcp://{host}:{opcua.port}{ENDPOINT_PATH}"
    server.set_endpoint(f"opc.tcp://{opcua.host}:{opcua.port}{ENDPOINT_PATH}")
    server.set_server_name(f"linectl {config.line.name or config.line.id}")
    await server.set_application_uri(opcua.application_uri)
    policies = [
        ua.SecurityPolicyType.Basic256Sha256_Sign,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ]
    if opcua.allow_none_policy:
        policies.append(ua.SecurityPolicyType.NoSecurity)
    server.set_security_policy(policies, permission_ruleset=RoleRules())  # type: ignore[arg-type]
    tokens: list[type] = [ua.UserNameIdentityToken]
    if opcua.allow_anonymous:
        tokens.append(ua.AnonymousIdentityToken)
    server.set_identity_tokens(tokens)
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    server.set_certificate_validator(trust.validate)
    await server.import_xml(str(nodeset))
    await server.load_data_type_definitions()
    nodes = await build_line_object(server, config.line.id, config.line.name)
    design = opcua.machine_design_speed or config.line.target_packs_per_minute or 0.0
    mirror = Mirror(nodes, float(design))
    await mirror.start()
    Methods(link, mirror).link_all(server, nodes)
    try:
        await server.start()
    except OSError as exc:
        raise OpcuaError(
            f"the OPC UA server cannot listen on {opcua.host}:{opcua.port}: {exc.strerror or exc}"
        ) from None
    follower = _Follower(link, mirror, users)
    running = RunningOpcua(server, link, nodes, mirror, url)
    running.tasks = [
        asyncio.create_task(link.follow_events(follower.event), name="opcua: daemon events"),
        asyncio.create_task(follower.tick(), name="opcua: state times and status"),
        asyncio.create_task(follower.keepalive(), name="opcua: user sessions"),
        asyncio.create_task(trust.refresh(), name="opcua: trusted certificates"),
    ]
    log.info("OPC UA server listening", url=url, daemon=link.where)
    return running


async def run_opcua(config_path: Path) -> int:
    config = await asyncio.to_thread(load_config, config_path)
    yield_cpu_to_the_line(config.opcua.nice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start_opcua(config)
    try:
        print(f"linectl opcua ready: url={running.url} daemon={running.link.where}", flush=True)
        await stop.wait()
    finally:
        await running.close()
    return 0


def main(config_path: Path) -> int:
    return asyncio.run(run_opcua(config_path))
