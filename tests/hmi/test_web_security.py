"""The HMI's web security over real HTTPS (``start_hmi``) against a control API serving a
stand-in line with real users: headers, cookie flags, CSRF, origin, login rate limit, idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from linectl.hmi.pages import STATIC
from linectl.hmi.security import CSP, LIVE_HEADER
from linectl.hmi.server import RunningHmi
from linectl.hmi.sessions import COOKIE, Sessions
from tests.hmi.conftest import csrf, log_in, login_form
from tests.people import People
from tests.service.standin_line import StandInLine


async def test_every_answer_carries_a_strict_csp_and_the_cookie_is_secure_httponly_strict(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, _ = hmi
    async with http.get(running.url + "login") as r:
        assert r.status == 200
        policy = r.headers["Content-Security-Policy"]
        assert policy == CSP and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith(COOKIE + "=")
        for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
            assert flag in cookie, cookie
        assert "<script>" not in (await r.text()).replace('<script type="application/json"', "")
    async with http.get(running.url, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/login"  # nothing without a login


async def test_a_post_without_the_sessions_csrf_token_or_from_elsewhere_is_refused(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    token, _ = await login_form(http, running.url)
    form = {"user": "op.olga", "password": people.passwords["op.olga"]}
    async with http.post(running.url + "login", data=form) as r:
        assert r.status == 403
    async with http.post(running.url + "login", data=form | {"csrf": "forged"}) as r:
        assert r.status == 403
    headers = {"Origin": "https://evil.example"}
    async with http.post(running.url + "login", data=form | {"csrf": token}, headers=headers) as r:
        assert r.status == 403
    async with http.post(running.url + "login", data=form | {"csrf": token}) as r:
        assert r.status == 200 and str(r.url).endswith("/")  # logged in, on the overview
        page = await r.text()
        assert "Olga Operator" in page and 'id="hold"' in page


async def test_logins_beyond_the_limit_are_refused_with_a_message(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, _ = hmi
    statuses = []
    for _ in range(4):
        token, _ = await login_form(http, running.url)
        form = {"user": "op.olga", "password": "wrong-password-123", "csrf": token}
        async with http.post(running.url + "login", data=form) as r:
            statuses.append(r.status)
            text = await r.text()
    assert statuses == [401, 401, 401, 429]
    assert "Too many login attempts" in text


async def test_an_oversized_user_name_is_refused_with_a_message(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, _ = hmi
    token, _ = await login_form(http, running.url)
    form = {"user": "u" * 65, "password": "x", "csrf": token}
    async with http.post(running.url + "login", data=form) as r:
        assert r.status == 400
        assert "User name is too long: at most 64 characters" in await r.text()


def test_an_idle_session_is_logged_out(tmp_path: Path) -> None:
    sessions = Sessions(idle_s=60.0, default_language="en", languages_file=tmp_path / "l.json")
    session = sessions.log_in(sessions.new(), "op.olga", "Olga", "operator", "lcs_x")
    assert sessions.get(session.id) == (session, False)
    session.last_seen -= 61.0
    assert sessions.get(session.id) == (None, True)
    assert sessions.get(session.id) == (None, False)  # gone


async def test_a_script_given_as_a_batch_name_is_shown_as_text(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    password = people.add("qa.quinn", "qa", "Quinn QA")
    token, _ = await login_form(http, running.url)
    form = {"user": "qa.quinn", "password": password, "csrf": token}
    async with http.post(running.url + "login", data=form) as r:
        page = await r.text()
    script = "<script>alert('batch')</script>"
    form = {"csrf": csrf(page), "batch": script, "password": password, "meaning": "released"}
    async with http.post(running.url + "batch/release", data=form) as r:
        assert r.status == 200 and str(r.url).endswith("/batch")
        page = await r.text()
    assert "&lt;script&gt;alert(&#39;batch&#39;)&lt;/script&gt;" in page  # the daemon's refusal
    assert script not in page


async def test_the_alarms_screen_lists_the_daemons_active_alarms(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession, line: StandInLine
) -> None:
    running, people = hmi
    view = running.link.view
    async with asyncio.timeout(30):  # the HMI has the daemon's snapshot first
        while not view.connected:
            await view.changed_since(view.version)
    alarm = {"code": "printer-fault", "message": "ribbon <out>", "holds": True}
    line.active_alarms.append(alarm | {"since": "2026-12-04T10:00:00.000Z"})
    view.apply("alarm-raised", alarm)
    token, _ = await login_form(http, running.url)
    form = {"user": "op.olga", "password": people.passwords["op.olga"], "csrf": token}
    async with http.post(running.url + "login", data=form) as r:
        assert r.status == 200
    async with http.get(running.url + "alarms") as r:
        page = await r.text()
    assert "printer-fault" in page and "ribbon &lt;out&gt;" in page and "holds the line" in page


def test_a_live_screen_reading_itself_again_does_not_keep_its_session_alive(
    tmp_path: Path,
) -> None:
    sessions = Sessions(idle_s=60.0, default_language="en", languages_file=tmp_path / "l.json")
    session = sessions.log_in(sessions.new(), "op.olga", "Olga", "operator", "token")
    session.last_seen -= 50.0
    idle_since = session.last_seen
    assert sessions.get(session.id, active=False) == (session, False)
    assert session.last_seen == idle_since  # a live re-read is not the person's activity
    session.last_seen -= 20.0  # 70 s without the person
    assert sessions.get(session.id, active=False) == (None, True)
    live_js = (STATIC / "live.js").read_text(encoding="utf-8")
    assert f'"{LIVE_HEADER}": "1"' in live_js  # the header the live script sends


async def test_an_oversized_form_and_an_unknown_page_are_refused_in_the_users_language(
    hmi: tuple[RunningHmi, People], http: aiohttp.ClientSession
) -> None:
    running, people = hmi
    token = csrf(await log_in(http, running.url, "op.olga", people.passwords["op.olga"]))
    async with http.post(running.url + "language", data={"language": "de", "csrf": token}) as r:
        assert "Übersicht" in await r.text()
    form = {"command": "hold", "reason": "x" * 20_000, "csrf": token}
    async with http.post(running.url + "command", data=form) as r:
        assert r.status == 413
        assert await r.text() == "Das Formular ist zu groß: höchstens 16.384 Bytes."
    async with http.get(running.url + "no-such-page") as r:
        assert r.status == 404 and await r.text() == "Diese Seite gibt es nicht."
