"""Work orders from an MES over the control API, on a real ledger with real users: created (and
started) under the MES's machine account, read back by id, refused naming the field when the GTIN
check digit, the product or the lot is wrong (and then nothing is created), closed by the MES."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.ledger.identity_rows import find_audit
from linectl.ledger.product_file import products_from_csv
from linectl.line.work_orders import WorkOrderInvalid, WorkOrderService
from linectl.service.api import ControlApi, start_control_api
from tests.ledger.conftest import dump
from tests.people import People
from tests.service.standin_line import EXECUTE, IDLE, StandInLine

GTIN = "09506000134352"
OTHER_GTIN = "19506000134359"
ORDER: dict[str, Any] = {
    "id": "WO-4711",
    "gtin": GTIN,
    "lot": "L2026A",
    "expiry": "271231",
    "quantity": 1000,
    "materials": {"carton": "C-77"},
    "reason": "ERP order 4711",
}
PRODUCTS = f"""gtin,name,market,code_profile,label_layout
{GTIN},Paracetamol 500 mg,DE,eu-fmd,carton-80x40
{OTHER_GTIN},Ibuprofen 400 mg,DE,eu-fmd,carton-80x40
{OTHER_GTIN},Ibuprofen 400 mg,FR,fr-cip,carton-80x40
"""


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("mes", "machine")
    people.add("op.olga", "operator", "Olga Operator")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    with Ledger(people.path) as ledger:
        ledger.products.import_records(
            products_from_csv(PRODUCTS), actor="sv.sam", source="products.csv"
        )
    return people


@pytest.fixture
def tokens(people: People) -> dict[str, str]:
    return {
        "mes": people.token("mes"),
        "op.olga": people.session("op.olga"),
        "sv.sam": people.session("sv.sam"),
    }


@pytest.fixture
def line() -> StandInLine:
    return StandInLine()


@pytest.fixture
def identity(people: People) -> Iterator[Identity]:
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())


@pytest.fixture
async def api(line: StandInLine, identity: Identity) -> AsyncIterator[ControlApi]:
    served = await start_control_api(
        line, ControlSection().model_copy(update={"port": 0}), identity=identity
    )
    yield served
    await served.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: ControlApi,
    token: str,
    method: str,
    path: str,
    body: Any = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, api.url + path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_an_mes_creates_and_starts_a_work_order_under_its_machine_account(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine,
    people: People,
) -> None:  # fmt: skip
    status, made = await call(http, api, tokens["mes"], "POST", "/v1/work-orders",
                              ORDER | {"start": True})  # fmt: skip
    assert status == 201, made
    assert (made["id"], made["status"], made["market"]) == ("WO-4711", "created", "DE")
    assert made["product"]["name"] == "Paracetamol 500 mg"
    assert made["line"]["active"] is True and made["line"]["state"] == "Execute"
    assert [(c.command.value, c.user, c.batch) for c in line.calls] == [("start", "mes", "WO-4711")]
    status, read = await call(http, api, tokens["op.olga"], "GET", "/v1/work-orders/WO-4711")
    assert status == 200 and read["lot"] == "L2026A" and read["materials"] == {"carton": "C-77"}
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        (row,) = find_audit(rows, command="work_order.create")
    assert (row.actor, row.reason) == ("mes", "ERP order 4711")


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"gtin": GTIN[:-1] + "3"}, "gtin", "check digit"),
        ({"gtin": "04012345000016"}, "gtin", "not a product of this line"),
        ({"lot": "LOT 1"}, "lot", "not in GS1 CSET 82"),
        ({"gtin": OTHER_GTIN}, "market", "name the market"),
        ({"market": "IT"}, "market", "made for DE only"),
    ],
)
async def test_a_wrong_work_order_is_refused_naming_the_field_and_nothing_is_created(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine,
    people: People, change: dict[str, str], field: str, says: str,
) -> None:  # fmt: skip
    before = dump(people.path)
    status, problem = await call(
        http, api, tokens["mes"], "POST", "/v1/work-orders", ORDER | change | {"start": True}
    )
    assert status == 400, problem
    assert problem["field"] == field and says in problem["detail"], problem
    after = dump(people.path)
    assert after["work_orders"] == before["work_orders"] == []
    assert line.calls == []
    status, _ = await call(http, api, tokens["mes"], "GET", "/v1/work-orders/WO-4711")
    assert status == 404


async def test_an_operator_may_read_but_not_create_a_work_order(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str]
) -> None:
    status, problem = await call(http, api, tokens["op.olga"], "POST", "/v1/work-orders", ORDER)
    assert status == 403 and "create a work order" in problem["detail"]


async def test_the_mes_closes_its_work_order_and_a_person_is_sent_to_sign(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine
) -> None:
    await call(http, api, tokens["mes"], "POST", "/v1/work-orders", ORDER | {"start": True})
    assert line.state == EXECUTE
    status, problem = await call(
        http, api, tokens["sv.sam"], "POST", "/v1/work-orders/WO-4711/close"
    )
    assert status == 403 and "electronic signature" in problem["detail"]
    status, closed = await call(
        http, api, tokens["mes"], "POST", "/v1/work-orders/WO-4711/close", {"reason": "done"}
    )
    assert status == 200, closed
    assert line.state == IDLE and line.calls[-1].command.value == "close-batch"
    assert line.calls[-1].user == "mes"


async def test_a_created_work_order_is_started_later_by_id(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine
) -> None:
    status, made = await call(http, api, tokens["mes"], "POST", "/v1/work-orders", ORDER)
    assert status == 201 and made["line"]["active"] is False and line.calls == []
    status, started = await call(http, api, tokens["mes"], "POST", "/v1/work-orders/WO-4711/start")
    assert status == 200 and started["line"]["active"] is True
    status, again = await call(http, api, tokens["mes"], "POST", "/v1/work-orders", ORDER)
    assert status == 409 and again["type"].endswith("work-order-exists")


async def test_the_service_takes_a_work_order_as_plain_arguments_as_an_opc_ua_method_would(
    identity: Identity, line: StandInLine, people: People
) -> None:
    mes = identity.resolve(people.token("mes"))
    service = WorkOrderService(identity, line)
    view = await service.submit(
        mes, gtin=GTIN, lot="L77", expiry="280131", quantity=500, materials={"carton": "C-1"}
    )
    assert (view.order.batch, view.order.target_market, view.active) == ("L77", "DE", True)
    assert [(c.command.value, c.user) for c in line.calls] == [("start", "mes")]
    with pytest.raises(WorkOrderInvalid) as caught:
        await service.submit(mes, gtin=GTIN, lot="L78", expiry="281332", quantity=5)
    assert caught.value.field == "expiry"
