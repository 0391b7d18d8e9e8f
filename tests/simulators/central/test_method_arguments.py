"""The pool manager checks method arguments the way OPC UA Part 4 (Call service) prescribes:
too few arguments BadArgumentsMissing, too many BadTooManyArguments, a wrongly typed one
BadInvalidArgument for the call with BadTypeMismatch in inputArgumentResults for that argument."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.ua.status_codes import StatusCodes

from linectl.upstream.openscs import SnCollection, register_types
from simulators.central import CentralSimulator
from simulators.central.pool_manager import SERVER_URI
from tests.simulators.central.harness import central_config

S = StatusCodes
GOOD = 0
REQUESTS = ("SNRequestUnassigned", "SNRequestUnallocated", "SNRequestAllocated")
RETURNS = ("SNReturnUnallocated", "SNReturnAllocated")
PUSHES = ("SNtoUnallocated", "SNtoAllocated", "SNtoEncoded")


def text(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


def request_args(count: int = 10) -> list[ua.Variant]:
    return [text("ITEMS"), ua.Variant(count, ua.VariantType.UInt32), text("SERIALONLY"),
            ua.Variant([], ua.VariantType.ExtensionObject), text("")]  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def raw(tmp_path_factory: pytest.TempPathFactory, standards: Path) -> AsyncIterator[Client]:
    config = central_config(tmp_path_factory.mktemp("central"), standards, max_sn_requestable=100)
    async with CentralSimulator(config, admin=False) as sim, Client(sim.opcua_url, 10) as client:
        yield client


async def call(raw: Client, method: str, args: list[ua.Variant]) -> tuple[int, list[int]]:
    """(operation status, inputArgumentResults) of one raw Call: no linectl code involved."""
    ns = await register_types(raw)
    own = await raw.get_namespace_index(SERVER_URI)
    manager = await raw.nodes.objects.get_child([f"{own}:OPENSCSObjects", f"{own}:PoolManager"])
    node = await manager.get_child(f"{ns}:{method}")
    request = ua.CallMethodRequest(ObjectId=manager.nodeid, MethodId=node.nodeid,
                                   InputArguments=args)  # fmt: skip
    (result,) = await raw.uaclient.call([request])
    return result.StatusCode.value, [r.value for r in result.InputArgumentResults or []]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("method", REQUESTS + RETURNS + PUSHES)
async def test_a_call_without_arguments_is_bad_arguments_missing(raw: Client, method: str) -> None:
    status, per_argument = await call(raw, method, [])
    assert status == S.BadArgumentsMissing and not any(per_argument)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("method", REQUESTS + RETURNS + PUSHES)
async def test_a_call_with_an_extra_argument_is_bad_too_many_arguments(
    raw: Client, method: str
) -> None:
    status, per_argument = await call(raw, method, [text("x")] * 9)
    assert status == S.BadTooManyArguments and not any(per_argument)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("method", REQUESTS)
@pytest.mark.parametrize("wrong", range(5))
async def test_a_wrongly_typed_request_argument_is_named_by_bad_type_mismatch(
    raw: Client, method: str, wrong: int
) -> None:
    args = request_args()
    args[wrong] = ua.Variant(7, ua.VariantType.Int64)

    status, per_argument = await call(raw, method, args)

    assert status == S.BadInvalidArgument
    assert per_argument == [S.BadTypeMismatch if i == wrong else GOOD for i in range(5)]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("method", RETURNS)
@pytest.mark.parametrize("wrong", range(3))
async def test_a_wrongly_typed_return_argument_is_named_by_bad_type_mismatch(
    raw: Client, method: str, wrong: int
) -> None:
    state = 2 if method == "SNReturnAllocated" else 1
    collection = SnCollection(ID="ITEMS", State=ua.Int32(state), SerialNumbers=["S1"])
    args = [ua.Variant(collection, ua.VariantType.ExtensionObject),
            ua.Variant([], ua.VariantType.ExtensionObject), text("SERIALONLY")]  # fmt: skip
    args[wrong] = ua.Variant(7.5, ua.VariantType.Double)

    status, per_argument = await call(raw, method, args)

    assert status == S.BadInvalidArgument
    assert per_argument == [S.BadTypeMismatch if i == wrong else GOOD for i in range(3)]


@pytest.mark.asyncio(loop_scope="module")
async def test_every_wrongly_typed_argument_is_named(raw: Client) -> None:
    args = request_args()
    args[1] = text("ten")
    args[4] = ua.Variant(0, ua.VariantType.UInt32)

    status, per_argument = await call(raw, "SNRequestAllocated", args)

    assert status == S.BadInvalidArgument
    assert per_argument == [GOOD, S.BadTypeMismatch, GOOD, GOOD, S.BadTypeMismatch]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_count_above_max_sn_requestable_is_out_of_range(raw: Client) -> None:
    status, per_argument = await call(raw, "SNRequestAllocated", request_args(101))

    assert status == S.BadInvalidArgument
    assert per_argument == [GOOD, S.BadOutOfRange, GOOD, GOOD, GOOD]
