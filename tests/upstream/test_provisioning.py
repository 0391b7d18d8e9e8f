"""Serial provisioning over OPEN-SCS: the linectl client against the central simulator, over OPC UA.

One simulator serves the whole module (its OPC UA server takes ~2 s to start); each test uses its
own collection or undoes its faults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.common.node import Node
from asyncua.ua.uaerrors import UaStatusCodeError

from drivers.reconnect import Backoff
from linectl.upstream.openscs import KeyValue, SnCollection, register_types
from linectl.upstream.pool_client import PoolManagerClient, Selection
from linectl.upstream.pool_errors import PoolExhausted, PoolRefused, PoolUnavailable
from linectl.upstream.provisioning import SerialProvisioner
from linectl.upstream.sscc import SsccProvisioner
from simulators.central import CentralSimulator
from simulators.central.pool_manager import SERVER_URI
from standards.gs1.checkdigit import has_valid_check_digit
from standards.gs1.epc import parse_urn
from standards.openscs import ReturnStatus, SerialNumberState
from tests.simulators.central.harness import (
    GTIN_ITEMS,
    GTIN_LOCKED,
    GTIN_TINY,
    central_config,
)
from tests.upstream.sinks import MemorySink

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_REQUESTABLE = 300
PAGE = 100
TTL = 60.0


class Clock:
    """The pool manager's clock, moved by hand to expire request tokens."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def central(
    tmp_path_factory: pytest.TempPathFactory, standards: Path
) -> AsyncIterator[CentralSimulator]:
    config = central_config(
        tmp_path_factory.mktemp("central"),
        standards,
        max_sn_requestable=MAX_REQUESTABLE,
        page_size=PAGE,
        max_sn_returnable=50,
        token_ttl_s=TTL,
    )
    async with CentralSimulator(config, admin=False, clock=CLOCK) as sim:
        yield sim


@pytest_asyncio.fixture(loop_scope="module")
async def client(central: CentralSimulator) -> AsyncIterator[PoolManagerClient]:
    backoff = Backoff(initial=0.01, maximum=0.05)
    pool_client = PoolManagerClient(central.opcua_url, attempts=3, backoff=backoff)
    yield pool_client
    await pool_client.close()
    await central.set_faults(pool_down=False, deny_provisioning=False)


def _requests(central: CentralSimulator, since: int) -> list[tuple[int, str, ReturnStatus, int]]:
    assert central.pool_manager is not None
    return [
        (c.count, c.token, ReturnStatus(int(c.status)), c.serials)
        for c in central.pool_manager.calls[since:]
        if c.method == "SNRequestAllocated"
    ]


async def _raw_method(raw: Client, name: str) -> tuple[Node, Node]:
    """The pool manager and one of its methods, found by browse path (no linectl code)."""
    ns = await register_types(raw)
    own = await raw.get_namespace_index(SERVER_URI)
    manager = await raw.nodes.objects.get_child([f"{own}:OPENSCSObjects", f"{own}:PoolManager"])
    return manager, await manager.get_child(f"{ns}:{name}")


async def test_limits_are_read_from_the_pool_manager(client: PoolManagerClient) -> None:
    limits = await client.connect()
    assert limits.max_requestable == MAX_REQUESTABLE
    assert limits.max_returnable == 50
    assert limits.max_pushable == 0
    assert "SERIALONLY" in limits.sn_formats
    assert {key for key, _ in limits.selection_criteria} == {"GTIN", "LOT", "MARKET"}


async def test_refill_pages_by_request_token_and_never_asks_more_than_max_requestable(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    assert central.pool_manager is not None
    since = len(central.pool_manager.calls)
    sink = MemorySink()
    provisioner = SerialProvisioner(
        client, sink, batch="B1", gtin=GTIN_ITEMS, lot="L1", market="DE"
    )
    async with asyncio.timeout(30):
        got = await provisioner.refill(750)
    assert got == 750 == len(sink.serials) == len(set(sink.serials))
    assert all(len(page) <= PAGE for _, _, page in sink.pages)
    assert {(b, g) for b, g, _ in sink.pages} == {("B1", GTIN_ITEMS)}
    calls = _requests(central, since)
    # three requests (300, 300, 150), each followed by its tokens until an empty one came back
    initial = [count for count, token, _, _ in calls if not token]
    assert initial == [300, 300, 150]
    assert max(count for count, _, _, _ in calls) <= MAX_REQUESTABLE
    assert len(calls) == 3 + 3 + 2
    assert all(status is ReturnStatus.NoError1 for _, _, status, _ in calls)
    assert sorted(sink.serials) == sorted(s for s in central.pool.issued("ITEMS")[-750:])  # type: ignore[union-attr]
    assert provisioner.selection.collection_id == "ITEMS"  # learnt from the answer


async def test_a_call_above_max_requestable_is_refused_by_the_server(
    central: CentralSimulator,
) -> None:
    async with Client(central.opcua_url, timeout=10) as raw:
        manager, method = await _raw_method(raw, "SNRequestAllocated")
        with pytest.raises(UaStatusCodeError) as refused:
            await manager.call_method(
                method.nodeid,
                ua.Variant("ITEMS", ua.VariantType.String),
                ua.Variant(MAX_REQUESTABLE + 1, ua.VariantType.UInt32),
                ua.Variant("SERIALONLY", ua.VariantType.String),
                ua.Variant([], ua.VariantType.ExtensionObject),
                ua.Variant("", ua.VariantType.String),
            )
        assert refused.value.code == ua.StatusCodes.BadInvalidArgument


async def test_the_client_refuses_to_ask_more_than_max_requestable(
    client: PoolManagerClient,
) -> None:
    with pytest.raises(ValueError, match="MaxSNRequestable"):
        await client.request(MAX_REQUESTABLE + 1, Selection(gtin=GTIN_ITEMS))


async def test_an_unknown_request_token_is_invalid(central: CentralSimulator) -> None:
    async with Client(central.opcua_url, timeout=10) as raw:
        manager, method = await _raw_method(raw, "SNRequestAllocated")
        status, collection, token = await manager.call_method(
            method.nodeid,
            ua.Variant("ITEMS", ua.VariantType.String),
            ua.Variant(10, ua.VariantType.UInt32),
            ua.Variant("SERIALONLY", ua.VariantType.String),
            ua.Variant([KeyValue(Key="GTIN", Value=GTIN_ITEMS)], ua.VariantType.ExtensionObject),
            ua.Variant("not-a-token", ua.VariantType.String),
        )
    assert ReturnStatus(status) is ReturnStatus.InvalidRequestToken5
    assert collection.SerialNumbers == [] and token == ""


async def test_a_repeated_request_token_replays_the_same_page(central: CentralSimulator) -> None:
    async with Client(central.opcua_url, timeout=10) as raw:
        manager, method = await _raw_method(raw, "SNRequestAllocated")

        async def call(token: str) -> tuple[int, list[str], str]:
            status, collection, next_token = await manager.call_method(
                method.nodeid,
                ua.Variant("ITEMS", ua.VariantType.String),
                ua.Variant(250, ua.VariantType.UInt32),
                ua.Variant("SERIALONLY", ua.VariantType.String),
                ua.Variant([], ua.VariantType.ExtensionObject),
                ua.Variant(token, ua.VariantType.String),
            )
            return status, list(collection.SerialNumbers), next_token

        _, first, token2 = await call("")
        _, second, token3 = await call(token2)
        _, again, token3_again = await call(token2)  # the answer was "lost": ask again
        _, third, last = await call(token3)
        stale, _, _ = await call(token2)  # retired once token3 was used
    assert len(first) == len(second) == PAGE and len(third) == 50 and last == ""
    assert again == second and token3_again == token3
    assert not set(first) & set(second) and not set(second) & set(third)
    assert ReturnStatus(stale) is ReturnStatus.InvalidRequestToken5


async def test_an_expired_request_token_restarts_the_request_for_the_rest(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    assert central.pool_manager is not None
    since = len(central.pool_manager.calls)
    sink = MemorySink()

    class ExpiringSink(MemorySink):
        async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
            await super().add_serials(batch, gtin, serials)
            if len(self.pages) == 1:
                CLOCK.now += TTL + 1  # the line stalls: the token expires before page two

    sink = ExpiringSink()
    provisioner = SerialProvisioner(client, sink, batch="B2", gtin=GTIN_ITEMS)
    got = await provisioner.refill(250)
    assert got == 250 == len(set(sink.serials))
    statuses = [status for _, _, status, _ in _requests(central, since)]
    assert ReturnStatus.InvalidRequestToken5 in statuses
    assert [count for count, token, _, _ in _requests(central, since) if not token] == [250, 150]


async def test_insufficient_serials_give_what_is_left_then_the_pool_is_exhausted(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    sink = MemorySink()
    provisioner = SerialProvisioner(client, sink, batch="B3", gtin=GTIN_TINY)
    got = await provisioner.refill(50)
    assert got == 30 == len(set(sink.serials))  # capacity of TINY
    assert provisioner.exhausted
    assert all(len(s) == 8 and s.isalnum() for s in sink.serials)
    with pytest.raises(PoolExhausted) as exhausted:
        await provisioner.refill(1)
    assert exhausted.value.status is ReturnStatus.InsufficientSerialNumbers3


async def test_unused_serials_go_back_and_are_never_issued_again(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    assert central.pool is not None and central.pool_manager is not None
    sink = MemorySink()
    provisioner = SerialProvisioner(client, sink, batch="B4", gtin=GTIN_ITEMS, lot="L4")
    await provisioner.refill(120)
    unused = sink.serials[-70:]
    since = len(central.pool_manager.calls)
    assert await provisioner.return_unused(unused) == 70
    returns = [c for c in central.pool_manager.calls[since:] if c.method == "SNReturnAllocated"]
    assert [c.count for c in returns] == [50, 20]  # chunks of MaxSNReturnable
    assert set(central.pool.returned("ITEMS")) >= set(unused)
    assert await provisioner.return_unused(unused[:5]) == 5  # a repeated return changes nothing
    more = MemorySink()
    await SerialProvisioner(client, more, batch="B5", gtin=GTIN_ITEMS).refill(300)
    assert not set(more.serials) & set(unused)


async def test_returning_a_serial_never_issued_is_refused(client: PoolManagerClient) -> None:
    with pytest.raises(PoolRefused) as refused:
        await client.return_serials(["123456789012"], Selection("ITEMS", GTIN_ITEMS))
    assert refused.value.status is ReturnStatus.InvalidSerialNumberCollection2


@pytest.mark.parametrize(
    ("selection", "status", "advice"),
    [
        (Selection("NO-SUCH"), ReturnStatus.InvalidSerialNumberCollection2, "collections"),
        (
            Selection(gtin=GTIN_ITEMS, sn_format="LITERAL"),
            ReturnStatus.InvalidSerialNumbersFormat4,
            "sn_format",
        ),
        (
            Selection(gtin=GTIN_ITEMS, market="US"),
            ReturnStatus.InvalidSelectionCriteria6,
            "market",
        ),
        (Selection(gtin=GTIN_LOCKED), ReturnStatus.InsufficientPrivilegeToExecute11, "identity"),
    ],
)
async def test_refusals_name_what_to_check(
    client: PoolManagerClient, selection: Selection, status: ReturnStatus, advice: str
) -> None:
    with pytest.raises(PoolRefused) as refused:
        await client.request(10, selection)
    assert refused.value.status is status
    assert advice in str(refused.value)


async def test_a_denied_line_gets_insufficient_privilege(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    await central.set_faults(deny_provisioning=True)
    with pytest.raises(PoolRefused) as refused:
        await SerialProvisioner(client, MemorySink(), batch="B6", gtin=GTIN_ITEMS).refill(5)
    assert refused.value.status is ReturnStatus.InsufficientPrivilegeToExecute11


async def test_serials_in_epc_uri_format_name_the_gtin(client: PoolManagerClient) -> None:
    result = await client.request(5, Selection(gtin=GTIN_ITEMS, sn_format="EPCURI"))
    assert len(result.serials) == 5
    for urn in result.serials:
        identifier, prefix_length = parse_urn(urn)
        assert identifier.key == GTIN_ITEMS and prefix_length == 7


async def test_a_pool_manager_that_is_down_is_unavailable_until_it_is_back(
    central: CentralSimulator, client: PoolManagerClient
) -> None:
    await client.connect()
    await central.set_faults(pool_down=True)
    with pytest.raises(PoolUnavailable, match="unreachable after 3 attempts"):
        await client.request(5, Selection(gtin=GTIN_ITEMS))
    await central.set_faults(pool_down=False)
    result = await client.request(5, Selection(gtin=GTIN_ITEMS))
    assert len(result.serials) == 5


class SsccLedger:
    def __init__(self) -> None:
        self.ssccs: list[str] = []

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        self.ssccs.extend(ssccs)


async def test_ssccs_come_from_the_pool_manager_s_sscc_collection(
    client: PoolManagerClient,
) -> None:
    ledger = SsccLedger()
    provisioner = SsccProvisioner(
        ledger, client=client, collection_id="SSCC", company_prefix="4012345"
    )
    assert await provisioner.refill(60) == 60
    assert len(set(ledger.ssccs)) == 60
    assert all(s.startswith("34012345") and has_valid_check_digit(s) for s in ledger.ssccs)
    assert await provisioner.refill(60) == 40  # the collection holds references 100..199
    with pytest.raises(PoolExhausted):
        await provisioner.refill(1)


async def test_unallocated_serials_are_requested_and_returned_like_allocated_ones(
    client: PoolManagerClient,
) -> None:
    state = SerialNumberState.Unallocated1
    result = await client.request(5, Selection(gtin=GTIN_ITEMS), state=state)
    assert len(result.serials) == 5
    assert await client.return_serials(result.serials, Selection("ITEMS"), state=state) == 5
    with pytest.raises(PoolRefused) as wrong_state:  # allocated returns need allocated serials
        await client.return_serials(result.serials, Selection("ITEMS"))
    assert wrong_state.value.status is ReturnStatus.InvalidSerialNumberCollection2


async def test_pushed_serials_are_not_accepted(central: CentralSimulator) -> None:
    async with Client(central.opcua_url, timeout=10) as raw:
        manager, method = await _raw_method(raw, "SNtoEncoded")
        status = await manager.call_method(
            method.nodeid,
            ua.Variant(
                SnCollection(ID="ITEMS", SerialNumbers=["1"]), ua.VariantType.ExtensionObject
            ),
            ua.Variant([], ua.VariantType.ExtensionObject),
            ua.Variant("SERIALONLY", ua.VariantType.String),
        )
    assert ReturnStatus(status) is ReturnStatus.UnableToAcceptSerialNumberEvents7
