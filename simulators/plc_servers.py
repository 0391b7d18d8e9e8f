"""The simulated PLC's two network faces over one PlcMemory: Modbus TCP and OPC UA.

Both are built from drivers.plc.signals, so they expose exactly the same signals. Registers outside
the map, and every coil and discrete input (the map uses none), answer Modbus exception 2 (illegal
data address: no such address in this device); PLC-written OPC UA nodes are read-only.
A host write reaches the PLC logic as one batch per request (one FC 16, one OPC UA Write call).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import cast

from asyncua import ua
from asyncua.common.callback import CallbackService, CallbackType, ServerItemCallback
from asyncua.common.node import Node
from asyncua.server.server import Server as UaServer
from asyncua.ua.attribute_ids import AttributeIds
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.plc import signals as sig
from simulators.opcua_security import EndpointSecurity
from simulators.plc_memory import PlcMemory

log = logging.getLogger("linectl.simulators.plc")

#: Called with the signals a host request touched, after they were stored.
HostWriteSink = Callable[[list[sig.Signal]], Awaitable[None]]

#: Read coils, read discrete inputs, write single coil, write multiple coils.
_BIT_FUNCTIONS = frozenset({1, 2, 5, 15})

_VARIANT = {sig.Kind.U16: ua.VariantType.UInt16, sig.Kind.U32: ua.VariantType.UInt32}


#: Where a shelf of asyncua's standard address space is kept for the next servers.
ASPACE_CACHE = (
    Path(tempfile.gettempdir())
    / f"linectl-cache-{os.getuid()}"
    / f"asyncua-{version('asyncua')}-py{sys.version_info[0]}{sys.version_info[1]}"
)


def _trusted(directory: Path) -> bool:
    """The shelf holds pickles: use it only from a directory tree that only we can write."""
    for d in (directory, directory.parent):
        st = d.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            log.warning("PLC simulator: not using the address space cache in %s (permissions)", d)
            return False
    return True


async def init_ua_server(server: UaServer, cache: Path | None = ASPACE_CACHE) -> None:
    """``server.init()``, loading the standard address space from a shared shelf when one is ready.

    Building the standard address space costs 1-4 s per server; asyncua can load it lazily from a
    shelve file instead (0.2 s). asyncua's check for an existing shelf misses dbm.dumb's file
    names, so a file with the shelf's own name marks it ready; that marker is created only after
    the shelf files are in place. Without a ready shelf the server builds the address space as
    usual and then publishes a shelf for the servers after it.
    """
    marker = cache / "aspace" if cache is not None else None
    if marker is not None and marker.is_file() and _trusted(marker.parent):
        await server.init(marker)
        return
    if marker is None or marker.exists():
        await server.init()
        return
    with tempfile.TemporaryDirectory(prefix="linectl-aspace-") as tmp:
        await server.init(Path(tmp) / "aspace")  # builds, then writes a shelf into tmp
        _publish_shelf(Path(tmp), marker)


def _publish_shelf(built: Path, marker: Path) -> None:
    """Move a freshly written shelf next to ``marker``, then create the marker (ready signal)."""
    try:
        marker.parent.parent.mkdir(mode=0o700, exist_ok=True)
        marker.parent.mkdir(mode=0o700, exist_ok=True)
        if marker.exists() or not _trusted(marker.parent):
            return
        for f in built.iterdir():
            os.replace(f, marker.parent / f.name)
        marker.touch()
    except OSError as e:  # a read-only or full temp dir only costs the next server its speed-up
        log.debug("PLC simulator: cannot cache the OPC UA address space: %s", e)


def register_runs(area: sig.Area) -> list[tuple[int, int]]:
    """(first address, count) of each run of back-to-back signals in ``area``."""
    runs: list[tuple[int, int]] = []
    for s in sorted((s for s in sig.SIGNALS if s.area is area), key=lambda s: s.address):
        if runs and runs[-1][0] + runs[-1][1] == s.address:
            runs[-1] = (runs[-1][0], runs[-1][1] + s.words)
        else:
            runs.append((s.address, s.words))
    return runs


class ModbusFace:
    """pymodbus TCP server whose datastore reads and writes go to the PlcMemory."""

    def __init__(self, memory: PlcMemory, sink: HostWriteSink, host: str, port: int) -> None:
        self.memory = memory
        self.sink = sink
        self.host = host
        self.port = port
        self._server: ModbusTcpServer | None = None

    async def start(self) -> int:
        """Listen; return the bound port."""

        def block(area: sig.Area) -> list[SimData]:
            return [
                SimData(a, count=n, values=0, datatype=DataType.REGISTERS)
                for a, n in register_runs(area)
            ]

        # No coils or discrete inputs in the map: one dummy block each (pymodbus needs a
        # non-empty block); _access answers every bit function with "illegal data address".
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS, readonly=True)]
        device = SimDevice(
            0,  # answers every unit id
            simdata=(bits, list(bits), block(sig.Area.HOLDING), block(sig.Area.INPUT)),
            action=self._access,
        )
        server = ModbusTcpServer(device, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as e:
            raise OSError(
                f"PLC simulator: cannot listen for Modbus on {self.host}:{self.port}"
            ) from e
        self._server = server
        listener = cast(asyncio.Server, server.transport)
        self.port = listener.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def _access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus datastore hook: serve reads from, and apply writes to, the PlcMemory."""
        if function_code in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_ADDRESS  # the map has no coil and no discrete input at all
        offset = address - start_address
        if values is None:
            area = sig.Area.INPUT if function_code == 4 else sig.Area.HOLDING
            registers[offset : offset + count] = self.memory.read(area, address, count)
            return None
        touched = self.memory.write_host(address, [int(v) for v in values])
        await self.sink(touched)
        return None


class OpcUaFace:
    """asyncua server exposing every signal as a variable under Objects/LinePlc."""

    def __init__(
        self,
        memory: PlcMemory,
        sink: HostWriteSink,
        host: str,
        port: int,
        cache: Path | None = ASPACE_CACHE,
        security: EndpointSecurity | None = None,
    ) -> None:
        self.memory = memory
        self.sink = sink
        self.host = host
        self.port = port
        self.cache = cache
        self.security = security
        self.namespace_index = 0
        self._server: UaServer | None = None
        self._node_ids: dict[sig.Signal, ua.NodeId] = {}
        self._by_node: dict[ua.NodeId, sig.Signal] = {}

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/linectl/plc"

    async def start(self) -> int:
        """Build the address space and listen; return the bound port (asyncua init takes ~1 s)."""
        server = UaServer()
        await init_ua_server(server, self.cache)
        server.disable_clock()  # its 1 s clock task would also delay stop() by up to 1 s
        server.set_server_name("linectl PLC simulator")
        server.set_endpoint(self.url)
        if self.security is not None:  # Basic256Sha256, users, trusted clients
            await self.security.apply(server, "urn:linectl:simulator:plc")
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(sig.OPCUA_NAMESPACE)
        self.namespace_index = idx
        await self._build(server, idx)
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        await server.start()
        self._server = server
        if server.bserver is not None:
            self.port = server.bserver.port
        return self.port

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def publish(self, changed: Sequence[sig.Signal]) -> None:
        """Push PLC-side changes to the nodes (fires subscriptions); the event index goes last."""
        server = self._server
        if server is None:
            return
        last = [s for s in changed if s is sig.EVENT_WRITE_INDEX]
        for s in [s for s in changed if s is not sig.EVENT_WRITE_INDEX] + last:
            value = ua.DataValue(ua.Variant(self.memory.get(s), _VARIANT[s.kind]))
            await server.write_attribute_value(self._node_ids[s], value)

    async def _build(self, server: UaServer, idx: int) -> None:
        folders: dict[tuple[str, ...], Node] = {}
        objects = server.nodes.objects
        for s in sig.SIGNALS:
            parent = objects
            path = s.browse_path
            for depth in range(1, len(path)):
                key = path[:depth]
                if key not in folders:
                    ident = sig.OPCUA_ROOT if depth == 1 else ".".join(key[1:])
                    folders[key] = await parent.add_object(
                        ua.NodeId(ua.String(ident), ua.Int16(idx)),
                        ua.QualifiedName(key[-1], idx),
                    )
                parent = folders[key]
            node_id = ua.NodeId(ua.String(s.node_id), ua.Int16(idx))
            variable = await parent.add_variable(
                node_id,
                ua.QualifiedName(path[-1], idx),
                ua.Variant(self.memory.get(s), _VARIANT[s.kind]),
            )
            await variable.write_attribute(
                AttributeIds.Description,
                ua.DataValue(
                    ua.Variant(ua.LocalizedText(f"{s.meaning} (written by {s.area.writer})"))
                ),
            )
            if s.area is sig.Area.HOLDING:
                await variable.set_writable()
            self._node_ids[s] = node_id
            self._by_node[node_id] = s

    async def _post_write(self, event: ServerItemCallback, _service: CallbackService) -> None:
        """Hand a client's Write request to the PLC logic as one batch (in request order)."""
        if not event.is_external:
            return
        pairs: list[tuple[sig.Signal, int]] = []
        for item, status in zip(
            event.request_params.NodesToWrite, event.response_params, strict=True
        ):
            s = self._by_node.get(item.NodeId)
            if s is None or item.AttributeId != AttributeIds.Value or not status.is_good():
                continue
            variant = item.Value.Value if item.Value is not None else None
            if variant is None or not isinstance(variant.Value, int):
                continue
            pairs.append((s, variant.Value))
        if pairs:
            # asyncua already stored the values in the nodes: no need to republish them
            touched = self.memory.write_values(pairs, publish=False)
            await self.sink(touched)
