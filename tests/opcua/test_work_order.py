"""Work orders from an MES over OPC UA: ``Serialization/CreateWorkOrder`` as a machine account.

The MES logs in with its machine account's name and API token (machine accounts have no
password), and the work order is created exactly as ``POST /v1/work-orders`` does it: recorded
under the machine user in the audit trail. A wrong GTIN check digit or a lot outside GS1 CSET 82
is BadInvalidArgument with that input argument marked, and nothing is created; a role without
``batch.create`` gets BadUserAccessDenied.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.client.client import Client

from linectl.ledger import UnknownWorkOrder
from linectl.ledger.product_file import products_from_csv
from linectl.line.control import Command
from linectl.opcua.address_space import WORK_ORDER_ARGUMENTS
from linectl.opcua.nodeset import LINECTL_URI
from standards.gs1.checkdigit import check_digit
from standards.packml import PackMLState as S
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import EXPIRY, GTIN, serials
from tests.opcua.opcua_line import opcua_line

pytestmark = pytest.mark.e2e
LINE = "e2e-line"
UNKNOWN = "0950600099999" + check_digit("0950600099999")
NAMES = [name for name, _, _ in WORK_ORDER_ARGUMENTS]
KINDS = [kind for _, kind, _ in WORK_ORDER_ARGUMENTS]


def order(**given: object) -> list[ua.Variant]:
    values: dict[str, object] = {
        "GTIN": GTIN, "Lot": "L-OPC-1", "Expiry": EXPIRY, "Quantity": 40, "Market": "DE",
        "Materials": "carton=C-77", "Batch": "B-OPC-1", "Start": False,
    }  # fmt: skip
    values.update(given)
    return [ua.Variant(values[n], k) for n, k in zip(NAMES, KINDS, strict=True)]


async def call(client: Client, args: list[ua.Variant]) -> ua.CallMethodResult:
    ns = await client.get_namespace_index(LINECTL_URI)
    request = ua.CallMethodRequest(
        ObjectId=ua.NodeId(ua.String(f"{LINE}.Serialization"), ua.Int16(ns)),
        MethodId=ua.NodeId(ua.String(f"{LINE}.Serialization.CreateWorkOrder"), ua.Int16(ns)),
        InputArguments=args,
    )
    [result] = await client.uaclient.call([request])
    return result


async def test_an_mes_creates_a_work_order_over_opc_ua_as_its_machine_account(
    tmp_path: Path,
) -> None:
    async with opcua_line(tmp_path, packs=10, pool=20) as line:
        await asyncio.to_thread(line.people.add, "mes-opc", "machine", "MES over OPC UA")
        token = await asyncio.to_thread(line.people.token, "mes-opc")
        qa_password = await asyncio.to_thread(line.people.add, "qa.quinn", "qa", "Quinn QA")
        await asyncio.to_thread(line.trust_client)
        products = f"gtin,name,market,code_profile,label_layout\n{GTIN},Paracetamol,DE,eu,c-80\n"
        await asyncio.to_thread(
            line.rig.ledger.products.import_records,
            products_from_csv(products), actor="tester", source="products.csv",
        )  # fmt: skip

        async with line.client("mes-opc", token) as client:
            wrong_digit = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
            for field, args in (
                ("GTIN", order(GTIN=wrong_digit, Batch="B-BAD-1")),
                ("Lot", order(Lot="L OPC~1", Batch="B-BAD-2")),
                ("GTIN", order(GTIN=UNKNOWN, Batch="B-BAD-3")),  # not in the master data
            ):
                refused = await call(client, args)
                assert refused.StatusCode.value == ua.StatusCodes.BadInvalidArgument, field
                marked = [
                    n
                    for n, r in zip(NAMES, refused.InputArgumentResults, strict=True)
                    if r.value == ua.StatusCodes.BadInvalidArgument
                ]
                assert marked == [field]
            created = await call(client, order())
            assert created.StatusCode.is_good(), created.StatusCode
            assert [v.Value for v in created.OutputArguments] == ["B-OPC-1"]

        async with line.client("qa.quinn", qa_password) as client:
            denied = await call(client, order(Batch="B-QA-1"))
            assert denied.StatusCode.value == ua.StatusCodes.BadUserAccessDenied

        ledger = line.rig.ledger
        made = await asyncio.to_thread(ledger.get_work_order, "B-OPC-1")
        assert (made.gtin, made.lot, made.quantity) == (GTIN, "L-OPC-1", 40)
        assert made.materials == {"carton": "C-77"}
        for batch in ("B-BAD-1", "B-BAD-2", "B-BAD-3", "B-QA-1"):  # nothing was created for them
            with pytest.raises(UnknownWorkOrder):
                await asyncio.to_thread(ledger.get_work_order, batch)
        entries = await asyncio.to_thread(ledger.audit_entries, limit=10_000)
        creates = [e for e in entries if e.command == "work_order.create" and e.actor == "mes-opc"]
        assert len(creates) == 1 and "OPC UA" in creates[0].reason
        assert token not in line.log.read_text()  # the API token used as password is never logged


async def method(client: Client, name: str, *args: ua.Variant) -> ua.CallMethodResult:
    ns = await client.get_namespace_index(LINECTL_URI)
    request = ua.CallMethodRequest(
        ObjectId=ua.NodeId(ua.String(f"{LINE}.Serialization"), ua.Int16(ns)),
        MethodId=ua.NodeId(ua.String(f"{LINE}.Serialization.{name}"), ua.Int16(ns)),
        InputArguments=list(args),
    )
    [result] = await client.uaclient.call([request])
    return result


async def test_a_work_order_from_opc_ua_runs_to_completion_on_the_line(tmp_path: Path) -> None:
    packs = 60
    async with opcua_line(tmp_path, packs=packs, pool=0, quantity=1) as line:
        rig = line.rig
        await rig.rt.command(Command.CLOSE_BATCH, user="tester", reason="not made")  # the rig's
        await asyncio.to_thread(line.people.add, "mes-opc", "machine", "MES over OPC UA")
        token = await asyncio.to_thread(line.people.token, "mes-opc")
        await asyncio.to_thread(line.trust_client)
        products = f"gtin,name,market,code_profile,label_layout\n{GTIN},Paracetamol,DE,eu,c-80\n"
        await asyncio.to_thread(
            rig.ledger.products.import_records,
            products_from_csv(products), actor="tester", source="products.csv",
        )  # fmt: skip
        batch = ua.Variant("B-OPC-2", ua.VariantType.String)
        async with line.client("mes-opc", token) as client:
            created = await call(client, order(Batch="B-OPC-2", Quantity=packs, Lot="L-OPC-2"))
            assert created.StatusCode.is_good(), created.StatusCode
            await asyncio.to_thread(  # the site provisions its serials
                rig.ledger.import_serials, "B-OPC-2", GTIN, serials(packs + 20, prefix="W"), "site"
            )
            started = await method(client, "StartWorkOrder", batch)
            assert started.StatusCode.is_good(), started.StatusCode
            await rig.wait_state(S.COMPLETE)
            await rig.rt.line_end_done()
            closed = await method(client, "CloseWorkOrder", batch)
            assert closed.StatusCode.is_good(), closed.StatusCode
        counts = check_ground_truth(rig)
        assert counts["packs"] == packs
        rec = await asyncio.to_thread(rig.ledger.reconcile, "B-OPC-2")
        assert rec.balanced and rec.commissioned == counts["good"], rec
        entries = await asyncio.to_thread(rig.ledger.audit_entries, limit=10_000)
        steps = [e.command for e in entries if e.actor == "mes-opc"]
        assert {"work_order.create", "work_order.start", "work_order.close"} <= set(steps), steps
