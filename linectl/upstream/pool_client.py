"""The OPC UA client of an OPEN-SCS pool manager (DESIGN.md section 6): limits, requests, returns.

:class:`PoolManagerClient` finds the ``OPENSCSPoolManagerObjectType`` instance under
``Objects/OPENSCSObjects``, reads its limits (MaxSNRequestable, MaxSNReturnable, SNFormat,
PoolSelectionCriteria), requests serials with ``SNRequestAllocated`` - one call never asks for more
than MaxSNRequestable, and each request is followed page by page with its ``RequestToken`` until
the returned token is empty - and gives unused serials back with ``SNReturnAllocated`` in chunks of
at most MaxSNReturnable. A lost connection is retried after a capped, jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from drivers.opcua_security import ClientSecurity, SecurityConfigError
from drivers.reconnect import Backoff
from linectl.config.upstream import ProvisioningSection
from linectl.upstream.openscs import (
    KeyValue,
    SnCollection,
    openscs_node,
    register_types,
)
from linectl.upstream.pool_errors import (
    PoolLoginRefused,
    PoolProtocolError,
    PoolRefused,
    PoolUnavailable,
)
from standards.openscs import POOL_MANAGER_TYPE, ReturnStatus, SerialNumberState

log = logging.getLogger("linectl.upstream.provisioning")

_REQUEST_METHODS = {
    SerialNumberState.Unassigned0: "SNRequestUnassigned",
    SerialNumberState.Unallocated1: "SNRequestUnallocated",
    SerialNumberState.Allocated2: "SNRequestAllocated",
}
_RETURN_METHODS = {
    SerialNumberState.Unallocated1: "SNReturnUnallocated",
    SerialNumberState.Allocated2: "SNReturnAllocated",
}


@dataclass(frozen=True)
class PoolLimits:
    """The pool manager's properties, read at connection."""

    max_requestable: int
    max_returnable: int
    max_pushable: int
    sn_formats: tuple[str, ...]
    selection_criteria: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Selection:
    """Which serials: the collection (empty: the server picks by criteria) and the criteria."""

    collection_id: str = ""
    gtin: str | None = None
    lot: str | None = None
    market: str | None = None
    sn_format: str = "SERIALONLY"

    def criteria(self) -> list[KeyValue]:
        pairs = (("GTIN", self.gtin), ("LOT", self.lot), ("MARKET", self.market))
        return [KeyValue(Key=ua.String(k), Value=ua.String(v)) for k, v in pairs if v]


@dataclass
class RequestResult:
    """What one request (all its pages) brought."""

    requested: int
    serials: list[str] = field(default_factory=list)
    collection_id: str = ""
    pages: int = 0
    short: bool = False  # InsufficientSerialNumbers3: the collection had fewer
    interrupted: bool = False  # the RequestToken expired before the last page


PageHandler = Callable[[list[str]], Awaitable[None]]


class PoolManagerClient:
    """OPC UA client of one OPEN-SCS pool manager; ``close()`` is safe twice."""

    def __init__(
        self,
        endpoint: str,
        *,
        security: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        attempts: int = 5,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.security = security
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.limits: PoolLimits | None = None
        self._client: Client | None = None
        self._manager: Node | None = None
        self._ns = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_section(cls, section: ProvisioningSection) -> PoolManagerClient:
        """A client for ``[upstream.provisioning]`` (not connected yet)."""
        return cls(
            section.endpoint,
            security=section.security,
            username=section.username,
            password=section.password(),
            timeout_s=section.timeout_s,
            attempts=section.attempts,
            backoff=section.backoff(),
        )

    # -- connection -----------------------------------------------------------------------

    async def connect(self) -> PoolLimits:
        """Connect (if not connected), find the pool manager and read its limits.

        One attempt: raises :class:`PoolUnavailable` at once when the server cannot be reached
        (the method calls themselves retry).
        """
        async with self._lock:
            return await self._connect()

    async def _connect(self) -> PoolLimits:
        if self._client is not None and self.limits is not None:
            return self.limits
        client = Client(self.endpoint, timeout=self.timeout_s)
        client.session_timeout = 600_000  # what asyncua servers grant; asking more logs a warning
        login = ClientSecurity(self.security, self.username, self.password)
        info = None
        try:
            async with asyncio.timeout(self.timeout_s):
                info = await login.apply(client)  # may ask the server for its certificate
                await client.connect()
        except SecurityConfigError as exc:
            raise PoolLoginRefused(f"{self.endpoint}: security: {exc}") from exc
        except (OSError, TimeoutError, UaError) as exc:
            await self._disconnect(client)
            refused = login.explain(exc, info)
            if refused is not None:
                raise PoolLoginRefused(f"pool manager at {self.endpoint}: {refused}") from exc
            raise PoolUnavailable(f"cannot connect to {self.endpoint}: {_describe(exc)}") from exc
        try:
            self._ns = await register_types(client)
            self._manager = await self._find_manager(client)
            self.limits = await self._read_limits(self._manager)
        except BaseException:
            await self._disconnect(client)
            raise
        self._client = client
        log.info("pool manager at %s: %s", self.endpoint, self.limits)
        return self.limits

    async def _find_manager(self, client: Client) -> Node:
        """The first OPENSCSPoolManagerObjectType instance under Objects/OPENSCSObjects."""
        wanted = openscs_node(POOL_MANAGER_TYPE, self._ns)
        for folder in await client.nodes.objects.get_children():
            if (await folder.read_browse_name()).Name != "OPENSCSObjects":
                continue
            for child in await folder.get_children(nodeclassmask=ua.NodeClass.Object):
                if await child.read_type_definition() == wanted:
                    return child
        raise PoolProtocolError(
            f"{self.endpoint}: no OPENSCSPoolManagerObjectType instance in Objects/OPENSCSObjects"
        )

    async def _read_limits(self, manager: Node) -> PoolLimits:
        async def prop(name: str) -> Any:
            return await (await manager.get_child(f"{self._ns}:{name}")).read_value()

        criteria = await prop("PoolSelectionCriteria") or []
        return PoolLimits(
            max_requestable=int(await prop("MaxSNRequestable") or 0),
            max_returnable=int(await prop("MaxSNReturnable") or 0),
            max_pushable=int(await prop("MaxSNPushable") or 0),
            sn_formats=tuple(await prop("SNFormat") or ()),
            selection_criteria=tuple((str(c.Key), str(c.Value)) for c in criteria),
        )

    async def close(self) -> None:
        """Disconnect; safe twice."""
        async with self._lock:
            client, self._client = self._client, None
            self._manager, self.limits = None, None
            if client is not None:
                await self._disconnect(client)

    @staticmethod
    async def _disconnect(client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except Exception as exc:  # the link is gone anyway; nothing to clean up
            log.debug("disconnect from pool manager: %s", _describe(exc))

    async def _call(self, method: str, *args: ua.Variant) -> list[Any]:
        """Call a pool-manager method, reconnecting and retrying per the policy on link loss."""
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            async with self._lock:
                try:
                    await self._connect()
                    assert self._manager is not None
                    child = await self._manager.get_child(f"{self._ns}:{method}")
                    result = await asyncio.wait_for(
                        self._manager.call_method(child.nodeid, *args), self.timeout_s
                    )
                except PoolUnavailable as exc:
                    last = exc
                except UaStatusCodeError as exc:
                    if not _is_link_error(exc):
                        raise PoolProtocolError(f"{method}: refused by the server: {exc}") from exc
                    last = exc
                    await self._drop()
                except (OSError, TimeoutError, ConnectionError, UaError) as exc:
                    last = exc
                    await self._drop()
                else:
                    if self.backoff.on_success():
                        log.warning("pool manager at %s answers again", self.endpoint)
                    return result if isinstance(result, list) else [result]
            delay = self.backoff.on_failure()
            level = logging.WARNING if self.backoff.failures == 1 else logging.DEBUG
            log.log(level, "%s: pool manager unreachable (%s)", method, _describe(last))
            if attempt < self.attempts:
                await asyncio.sleep(delay)
        raise PoolUnavailable(
            f"{method}: pool manager at {self.endpoint} unreachable after {self.attempts} "
            f"attempts: {_describe(last)}"
        )

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self._manager, self.limits = None, None
        if client is not None:
            await self._disconnect(client)

    # -- requests -------------------------------------------------------------------------

    async def request(
        self,
        count: int,
        selection: Selection,
        *,
        state: SerialNumberState = SerialNumberState.Allocated2,
        on_page: PageHandler | None = None,
    ) -> RequestResult:
        """One request of at most MaxSNRequestable serials, followed page by page to its end."""
        limits = await self.connect()
        if limits.max_requestable <= 0:
            raise PoolProtocolError(f"{self.endpoint}: MaxSNRequestable is 0 (no requests)")
        if not 0 < count <= limits.max_requestable:
            raise ValueError(
                f"count {count}: must be 1 to MaxSNRequestable {limits.max_requestable}"
            )
        method = _REQUEST_METHODS[state]
        result = RequestResult(requested=count)
        seen: set[str] = set()
        token = ""
        while True:
            status, collection, next_token = await self._request_page(
                method, count, selection, token
            )
            if status is ReturnStatus.InvalidRequestToken5 and token:
                log.warning("%s: request token expired after %d serials", method, len(seen))
                result.interrupted = True
                return result
            if status is ReturnStatus.InsufficientSerialNumbers3:
                result.short = True
            elif status is not ReturnStatus.NoError1:
                raise PoolRefused(method, status, f"collection {selection.collection_id!r}")
            page = self._check_page(method, collection, state, limits, seen, result, count)
            result.pages += 1
            result.collection_id = str(collection.ID or result.collection_id)
            if page and on_page is not None:
                await on_page(page)  # durable before the next page is asked for
            result.serials.extend(page)
            if not next_token:
                return result
            token = next_token

    async def _request_page(
        self, method: str, count: int, selection: Selection, token: str
    ) -> tuple[ReturnStatus, SnCollection, str]:
        outputs = await self._call(
            method,
            ua.Variant(selection.collection_id, ua.VariantType.String),
            ua.Variant(count, ua.VariantType.UInt32),
            ua.Variant(selection.sn_format, ua.VariantType.String),
            ua.Variant(selection.criteria(), ua.VariantType.ExtensionObject),
            ua.Variant(token, ua.VariantType.String),
        )
        if len(outputs) != 3:
            raise PoolProtocolError(f"{method}: {len(outputs)} output arguments, expected 3")
        status = _status(method, outputs[0])
        collection = outputs[1] if isinstance(outputs[1], SnCollection) else SnCollection()
        return status, collection, str(outputs[2] or "")

    @staticmethod
    def _check_page(
        method: str,
        collection: SnCollection,
        state: SerialNumberState,
        limits: PoolLimits,
        seen: set[str],
        result: RequestResult,
        count: int,
    ) -> list[str]:
        page = [str(s) for s in collection.SerialNumbers or []]
        if len(page) > limits.max_requestable:
            raise PoolProtocolError(
                f"{method}: a page of {len(page)} serials exceeds MaxSNRequestable "
                f"{limits.max_requestable}"
            )
        if page and int(collection.State) != state:
            raise PoolProtocolError(
                f"{method}: serials in state {collection.State}, expected {state.name}"
            )
        for serial in page:
            if not serial or serial in seen:
                raise PoolProtocolError(f"{method}: serial {serial!r} is empty or came twice")
            seen.add(serial)
        if len(seen) > count:
            raise PoolProtocolError(f"{method}: {len(seen)} serials for a request of {count}")
        return page

    async def return_serials(
        self,
        serials: Sequence[str],
        selection: Selection,
        *,
        state: SerialNumberState = SerialNumberState.Allocated2,
    ) -> int:
        """Give serials back in chunks of at most MaxSNReturnable; return how many went back."""
        limits = await self.connect()
        if serials and limits.max_returnable <= 0:
            raise PoolProtocolError(f"{self.endpoint}: MaxSNReturnable is 0 (no returns)")
        method = _RETURN_METHODS[state]
        done = 0
        for start in range(0, len(serials), max(1, limits.max_returnable)):
            chunk = [str(s) for s in serials[start : start + limits.max_returnable]]
            collection = SnCollection(
                ID=ua.String(selection.collection_id),
                State=ua.Int32(state),
                SerialNumbers=[ua.String(s) for s in chunk],
            )
            outputs = await self._call(
                method,
                ua.Variant(collection, ua.VariantType.ExtensionObject),
                ua.Variant(selection.criteria(), ua.VariantType.ExtensionObject),
                ua.Variant(selection.sn_format, ua.VariantType.String),
            )
            status = _status(method, outputs[0] if outputs else None)
            if status is not ReturnStatus.NoError1:
                raise PoolRefused(method, status, f"{done} of {len(serials)} serials went back")
            done += len(chunk)
        return done


def _status(method: str, value: Any) -> ReturnStatus:
    try:
        return ReturnStatus(int(value))
    except (TypeError, ValueError):
        raise PoolProtocolError(
            f"{method}: ReturnStatus {value!r} is not an OPENSCSReturnEnum"
        ) from None


def _is_link_error(exc: UaStatusCodeError) -> bool:
    """Status codes that mean the session or channel is gone, not that the call was refused."""
    code = getattr(exc, "code", None)
    return code in {
        StatusCodes.BadSessionIdInvalid,
        StatusCodes.BadSessionClosed,
        StatusCodes.BadSecureChannelClosed,
        StatusCodes.BadConnectionClosed,
        StatusCodes.BadServerNotConnected,
        StatusCodes.BadCommunicationError,
        StatusCodes.BadTimeout,
        StatusCodes.BadShutdown,
    }


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no error recorded"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
