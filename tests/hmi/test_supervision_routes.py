"""The HMI's supervision routes over real HTTPS against a control API serving a stand-in line:
the server refuses what the role may not do (create a work order, read the audit trail,
acknowledge an alarm), refuses oversized fields with a message, and shows typed text as text."""

from __future__ import annotations

import aiohttp

from linectl.hmi.server import RunningHmi
from tests.hmi.conftest import csrf, log_in
from tests.people import People
from tests.service.standin_line import HELD, StandInLine

GTIN = "09506000134352"
XSS = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def order(token: str, **change: str) -> dict[str, str]:
    form = {"csrf": token, "product": "", "gtin": GTIN, "market": "DE", "batch": "B-1",
            "lot": "L1", "expiry": "281130", "quantity": "100", "material_name": "carton",
            "material_lot": "C-1", "reason": ""}  # fmt: skip
    return form | change


async def test_only_a_role_with_batch_create_gets_the_form_and_may_post_it(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    page = await log_in(http, running.url, "op.olga", people.passwords["op.olga"])
    async with http.get(running.url + "batch") as r:
        page = await r.text()
    assert 'id="create-form"' not in page
    async with http.post(running.url + "batch/create", data=order(csrf(page))) as r:
        assert r.status == 403 and "may not do this: Create a work order" in await r.text()


async def test_a_supervisor_creates_a_work_order_and_its_fields_are_checked(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    password = people.add("sv.sam", "supervisor", "Sam Supervisor")
    await log_in(http, running.url, "sv.sam", password)
    async with http.get(running.url + "batch") as r:
        token = csrf(await r.text())
    async with http.post(running.url + "batch/create", data=order(token, reason=XSS)) as r:
        page = await r.text()
    made = "Work order B-1 created: GTIN 09506000134352, lot L1, 100 packs; materials carton C-1"
    assert made in page
    assert 'data-batch="B-1"' in page and "carton: C-1" in page
    async with http.post(running.url + "batch/create", data=order(token, lot="L" * 21)) as r:
        assert "Lot is too long: at most 20 characters (got 21)" in await r.text()
    form = order(token, batch="B-2", material_lot="")
    async with http.post(running.url + "batch/create", data=form) as r:
        assert "Material carton: give its lot" in await r.text()
    async with http.post(running.url + "batch/create", data=order(token, batch="B-1")) as r:
        assert "exists already" in await r.text()
    async with http.get(running.url + "audit?batch=B-1") as r:
        page = await r.text()
    assert "work_order.create" in page and ESCAPED in page and XSS not in page


async def test_the_audit_screen_is_refused_to_an_operator_and_long_filters_are_refused(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    page = await log_in(http, running.url, "op.olga", people.passwords["op.olga"])
    assert 'href="/audit"' not in page
    async with http.get(running.url + "audit") as r:
        assert r.status == 403 and "may not do this: See the audit trail" in await r.text()
    await http.post(running.url + "logout", data={"csrf": csrf(page)})
    password = people.add("qa.quinn", "qa", "Quinn QA")
    page = await log_in(http, running.url, "qa.quinn", password)
    assert 'href="/audit"' in page
    async with http.get(running.url + "audit?user=" + "u" * 65) as r:
        assert r.status == 400 and "User is too long" in await r.text()


async def test_an_alarm_is_acknowledged_with_a_comment_shown_as_text(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession, line: StandInLine
) -> None:
    running, people = hmi
    since = "2026-12-04T10:00:00.000Z"
    line.active_alarms.append(
        {"code": "pool-low", "message": "low", "since": since, "holds": False}
    )
    await log_in(http, running.url, "op.olga", people.passwords["op.olga"])
    async with http.get(running.url + "alarms") as r:
        token = csrf(await r.text())
    form = {"csrf": token, "code": "pool-low", "comment": "x" * 1001}
    async with http.post(running.url + "alarms/acknowledge", data=form) as r:
        assert "Comment is too long: at most 1,000 characters" in await r.text()
    form["comment"] = XSS
    async with http.post(running.url + "alarms/acknowledge", data=form) as r:
        page = await r.text()
    assert "Alarm pool-low acknowledged by op.olga" in page
    assert ESCAPED in page and XSS not in page
    assert 'class="ack-form' not in page  # acknowledged: no form any more


async def test_qa_may_not_acknowledge_alarms(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession, line: StandInLine
) -> None:
    running, people = hmi
    line.active_alarms.append({"code": "pool-low", "message": "low", "since": "t", "holds": False})
    password = people.add("qa.quinn", "qa", "Quinn QA")
    await log_in(http, running.url, "qa.quinn", password)
    async with http.get(running.url + "alarms") as r:
        page = await r.text()
    assert "pool-low" in page and 'class="ack-form' not in page
    form = {"csrf": csrf(page), "code": "pool-low", "comment": "seen"}
    async with http.post(running.url + "alarms/acknowledge", data=form) as r:
        assert r.status == 403


async def test_an_unhold_the_daemon_wants_signed_shows_the_signature_dialog(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession, line: StandInLine
) -> None:
    running, people = hmi
    password = people.add("sv.sam", "supervisor", "Sam Supervisor")
    page = await log_in(http, running.url, "sv.sam", password)
    line.state = HELD
    line.active_alarms.append(
        {"code": "reject-unconfirmed", "message": "gate", "since": "t", "holds": True}
    )
    form = {"csrf": csrf(page), "command": "unhold", "reason": "found it"}
    async with http.post(running.url + "command", data=form) as r:
        page = await r.text()
    assert 'id="unhold-dialog"' in page and 'id="sign-password"' in page
    assert 'value="found it"' in page and line.calls == []
    signed = form | {"password": password, "meaning": "reviewed"}
    async with http.post(running.url + "command", data=signed) as r:
        page = await r.text()
    assert "signed by Sam Supervisor (reviewed)" in page
    assert [c.command.value for c in line.calls] == ["unhold"]


async def test_a_live_re_read_leaves_the_message_of_an_action_to_the_page_it_led_to(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    await log_in(http, running.url, "op.olga", people.passwords["op.olga"])
    async with http.get(running.url + "alarms") as r:
        token = csrf(await r.text())
    form = {"csrf": token, "code": "pool-low", "comment": ""}
    async with http.post(running.url + "alarms/acknowledge", data=form, allow_redirects=False) as r:
        assert r.status == 303
    live = {"X-HMI-Live": "1"}  # the page being left re-reads itself meanwhile
    async with http.get(running.url + "alarms", headers=live) as r:
        assert 'id="message"' not in await r.text()
    async with http.get(running.url + "alarms") as r:
        assert "Comment is required." in await r.text()
