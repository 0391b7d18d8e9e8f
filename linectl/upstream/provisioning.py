"""Serial provisioning from an OPEN-SCS pool manager over OPC UA (DESIGN.md section 6).

:class:`PoolManagerClient` speaks the protocol: it finds the ``OPENSCSPoolManagerObjectType``
instance under ``Objects/OPENSCSObjects``, reads its limits (MaxSNRequestable, MaxSNReturnable,
SNFormat, PoolSelectionCriteria), requests serials with ``SNRequestAllocated`` - one call never
asks for more than MaxSNRequestable, and each request is followed page by page with its
``RequestToken`` until the returned token is empty - and gives unused serials back with
``SNReturnAllocated`` in chunks of at most MaxSNReturnable.

:class:`SerialProvisioner` is what the daemon uses: ``refill(n)`` when the local pool falls below
its low-water mark, ``return_unused(serials)`` at batch close. Every page is handed to the
:class:`SerialSink` (the ledger) as soon as it arrives, before the next page is asked for, so a
crash mid-request loses at most serials the pool manager never reissues anyway.

Retries: a lost connection is retried after a capped, jittered backoff (a
repeated ``RequestToken`` replays the same page, so a lost answer costs nothing; a lost answer to
the first call of a request costs that page, which the pool manager never reissues). An expired
token (InvalidRequestToken5) starts a new request for the remainder. The statuses that retrying
cannot fix (wrong collection, format, selection criteria, privilege) raise :class:`PoolRefused`
with a message that names the configuration key to check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from linectl.upstream.backoff import Backoff
from linectl.upstream.openscs import (
    KeyValue,
    SnCollection,
    openscs_node,
    register_types,
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
_ADVICE = {
    ReturnStatus.InvalidSerialNumberCollection2: (
        "the pool manager does not know this serial-number collection; check "
        "[upstream.provisioning] collections"
    ),
    ReturnStatus.InvalidSerialNumbersFormat4: (
        "the pool manager does not offer this serial format; check [upstream.provisioning] "
        "sn_format against the server's SNFormat property"
    ),
    ReturnStatus.InvalidSelectionCriteria6: (
        "the pool manager refuses the selection criteria (GTIN, lot, market); check the work "
        "order and [upstream.provisioning] market against its PoolSelectionCriteria"
    ),
    ReturnStatus.InsufficientPrivilegeToExecute11: (
        "the pool manager refuses this line the method (privilege or a locked collection); "
        "check the line's OPC UA identity with the site's serialization team"
    ),
}
#: an expired RequestToken restarts the request for the remainder at most this often in a row
_MAX_TOKEN_RESTARTS = 3


class ProvisioningError(Exception):
    """Serial provisioning failed; the message says what and what to check."""


class PoolUnavailable(ProvisioningError):
    """The pool manager cannot be reached (after the retries); try again later."""


class PoolProtocolError(ProvisioningError):
    """The pool manager answered something the OPEN-SCS model does not allow."""


class PoolRefused(ProvisioningError):
    """The pool manager answered a ReturnStatus that retrying soon will not change."""

    def __init__(self, method: str, status: ReturnStatus, detail: str = "") -> None:
        self.method, self.status = method, status
        advice = _ADVICE.get(status, "unexpected for this method")
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{method}: {status.name}{extra}: {advice}")


class PoolExhausted(PoolRefused):
    """The collection has no serials left (InsufficientSerialNumbers3 with nothing returned)."""


class SerialSink(Protocol):
    """Where provisioned serials go, durably, before more are asked for (the ledger's pool)."""

    async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
        """Store ``serials`` as Allocated to ``batch`` (GTIN ``gtin``); raise if not stored."""


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
        if self.security:
            await client.set_security_string(self.security)
        if self.username:
            client.set_user(self.username)
            client.set_password(self.password or "")
        try:
            await asyncio.wait_for(client.connect(), self.timeout_s)
        except (OSError, TimeoutError, UaError) as exc:
            await self._disconnect(client)
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


class SerialProvisioner:
    """Keeps one batch's serial pool filled from the pool manager, for the daemon."""

    def __init__(
        self,
        client: PoolManagerClient,
        sink: SerialSink,
        *,
        batch: str,
        gtin: str,
        lot: str | None = None,
        market: str | None = None,
        collection_id: str = "",
        sn_format: str = "SERIALONLY",
    ) -> None:
        self.client, self.sink = client, sink
        self.batch, self.gtin = batch, gtin
        self.selection = Selection(collection_id, gtin, lot, market, sn_format)
        self.received = 0
        self.exhausted = False
        self._refilling = asyncio.Lock()

    async def refill(self, n: int) -> int:
        """Ask for ``n`` serials (several requests if n > MaxSNRequestable); return how many came.

        Raises :class:`PoolExhausted` when the collection had none at all, :class:`PoolRefused`
        for a configuration problem, :class:`PoolUnavailable` when the link stays down.
        """
        if n <= 0:
            return 0
        async with self._refilling:  # one refill at a time: the daemon may ask twice
            got = 0
            restarts = 0
            while got < n:
                limits = await self.client.connect()
                want = min(n - got, limits.max_requestable)
                result = await self.client.request(want, self.selection, on_page=self._store)
                got += len(result.serials)
                if result.collection_id and not self.selection.collection_id:
                    # the server chose by criteria: keep asking (and returning) to the same one
                    self.selection = _with_collection(self.selection, result.collection_id)
                if result.short or not result.serials:
                    self.exhausted = True
                    if got == 0:
                        raise PoolExhausted(
                            "SNRequestAllocated",
                            ReturnStatus.InsufficientSerialNumbers3,
                            f"no serials left for GTIN {self.gtin}",
                        )
                    log.warning("pool for GTIN %s is short: got %d of %d", self.gtin, got, n)
                    break
                if result.interrupted:
                    restarts += 1
                    if restarts > _MAX_TOKEN_RESTARTS:
                        raise PoolProtocolError(
                            f"request tokens expired {restarts} times in a row for GTIN {self.gtin}"
                        )
                else:
                    restarts = 0
            return got

    async def _store(self, serials: list[str]) -> None:
        await self.sink.add_serials(self.batch, self.gtin, serials)
        self.received += len(serials)

    async def return_unused(self, serials: Sequence[str]) -> int:
        """Give the batch's unused serials back with SNReturnAllocated (idempotent upstream)."""
        return await self.client.return_serials(serials, self.selection)


def _with_collection(selection: Selection, collection_id: str) -> Selection:
    return Selection(
        collection_id, selection.gtin, selection.lot, selection.market, selection.sn_format
    )
