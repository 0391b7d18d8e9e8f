"""The line PLC over OPC UA (asyncua Client), per drivers.plc.signals.

Each signal is a variable ``ns=<urn:linectl:plc>;s=<signal name>``; U16 signals are UInt16 and
U32 signals UInt32 nodes. A verdict is one Write service call with the slot's Verdict, Reason and
Seq nodes in that order; gate events are followed by reading ``GateEvents.WriteIndex`` and then
only the new slots (reads, not subscriptions: deterministic, and no lost-notification corner
cases). asyncua's own auto-reconnect is off; the ReconnectPolicy decides.

Security (device ``options``): ``security`` is asyncua's string
``Basic256Sha256,SignAndEncrypt,client.der,client.pem[,server.der]``, ``username`` and
``password_file`` log in as a user (the password is read from the file at each connect, never kept
in the configuration). A server that refuses the certificate or the user is a configuration
problem, not a link loss: the error names the certificate (or user) and retries wait the longest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from drivers.interfaces import DeviceError, DeviceUnavailable
from drivers.opcua_security import CertificateInfo, ClientSecurity, SecurityConfigError
from drivers.plc import signals as sig
from drivers.plc.client import PlcClient
from drivers.reconnect import ReconnectPolicy

_VARIANT = {sig.Kind.U16: ua.VariantType.UInt16, sig.Kind.U32: ua.VariantType.UInt32}

#: Service results that mean the session or channel is gone, not that the PLC refused something.
_LINK_STATUS = frozenset(
    {
        StatusCodes.BadSessionIdInvalid,
        StatusCodes.BadSessionClosed,
        StatusCodes.BadSessionNotActivated,
        StatusCodes.BadSecureChannelIdInvalid,
        StatusCodes.BadSecureChannelClosed,
        StatusCodes.BadConnectionClosed,
        StatusCodes.BadCommunicationError,
        StatusCodes.BadServerHalted,
        StatusCodes.BadShutdown,
        StatusCodes.BadTimeout,
        StatusCodes.BadTooManySessions,
        StatusCodes.BadServerNotConnected,
    }
)


class OpcUaPlc(PlcClient):
    """Plc driver for an OPC UA server that exposes the linectl signal map."""

    bulk_reads_are_cheap = False

    def __init__(
        self,
        url: str,
        *,
        namespace: str = sig.OPCUA_NAMESPACE,
        timeout: float = 1.0,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] | None = None,
        name: str | None = None,
        command_timeout: float = 2.0,
        security: str = "",
        username: str = "",
        password_file: str = "",
    ) -> None:
        name = name or f"plc opcua {url}"
        super().__init__(
            name, timeout=timeout, policy=policy, clock=clock, command_timeout=command_timeout
        )
        self.url = url
        self.namespace = namespace
        self.security = security
        self.username = username
        self.password_file = password_file
        self._client: Client | None = None
        self._node_ids: dict[sig.Signal, ua.NodeId] = {}

    async def _login(self) -> ClientSecurity:
        password = None
        if self.password_file:
            path = self.password_file
            try:
                password = (await asyncio.to_thread(_read_text, path)).strip()
            except OSError as e:
                raise DeviceError(f"{self.name}: cannot read password_file {path}: {e}") from e
        return ClientSecurity(self.security or None, self.username or None, password)

    async def _open(self) -> None:
        await self._drop()
        client = Client(self.url, timeout=self.timeout)
        client.session_timeout = 600_000  # what asyncua servers grant; asking more logs a warning
        self._client = client
        login = await self._login()
        info: CertificateInfo | None = None
        try:
            info = await login.apply(client)
            await client.connect()
            index = await client.get_namespace_index(self.namespace)
        except SecurityConfigError as e:
            raise DeviceError(f"{self.name}: security: {e}") from e
        except ValueError as e:
            raise DeviceError(f"{self.name}: server has no namespace {self.namespace!r}") from e
        except (OSError, TimeoutError, UaError) as e:
            refused = login.explain(e, info)
            if refused is not None:
                raise DeviceError(f"{self.name}: {refused}") from e
            raise DeviceUnavailable(f"{self.name}: cannot connect: {e!r}") from e
        self._node_ids = {s: ua.NodeId(ua.String(s.node_id), ua.Int16(index)) for s in sig.SIGNALS}

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await client.close_session()  # also cancels the client's own tasks
        with contextlib.suppress(Exception):
            client.disconnect_socket()

    async def _read(self, signals: Sequence[sig.Signal]) -> list[int]:
        client = self._connected()
        ids = [self._node_ids[s] for s in signals]
        try:
            results = await client.uaclient.read_attributes(ids, AttributeIds.Value)
        except (OSError, TimeoutError) as e:
            raise DeviceUnavailable(f"{self.name}: read failed: {e!r}") from e
        except UaStatusCodeError as e:
            raise self._service_error("read", e) from e
        values: list[int] = []
        for s, result in zip(signals, results, strict=True):
            if result.StatusCode is not None and not result.StatusCode.is_good():
                raise DeviceError(f"{self.name}: reading {s.name}: {result.StatusCode.name}")
            value = result.Value.Value if result.Value is not None else None
            if not isinstance(value, int) or isinstance(value, bool):
                raise DeviceError(f"{self.name}: {s.name} holds {value!r}, not an integer")
            values.append(value)
        return values

    async def _write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None:
        for s in signals:
            if s.area is not sig.Area.HOLDING:
                raise ValueError(f"{s.name} is written by the PLC, not the host")
        sig.encode_values(signals, values)  # range check
        client = self._connected()
        ids = [self._node_ids[s] for s in signals]
        data = [
            ua.DataValue(ua.Variant(v, _VARIANT[s.kind]))
            for s, v in zip(signals, values, strict=True)
        ]
        try:
            results = await client.uaclient.write_attributes(ids, data, AttributeIds.Value)
        except (OSError, TimeoutError) as e:
            raise DeviceUnavailable(f"{self.name}: write failed: {e!r}") from e
        except UaStatusCodeError as e:
            raise self._service_error("write", e) from e
        for s, status in zip(signals, results, strict=True):
            if not status.is_good():
                raise DeviceError(f"{self.name}: writing {s.name}: {status.name}")

    def _connected(self) -> Client:
        if self._client is None:
            raise DeviceUnavailable(f"{self.name}: connection lost")
        return self._client

    def _service_error(self, what: str, error: UaStatusCodeError) -> DeviceError:
        if error.code in _LINK_STATUS:
            return DeviceUnavailable(f"{self.name}: {what} failed: {error}")
        return DeviceError(f"{self.name}: {what} refused: {error}")


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()
