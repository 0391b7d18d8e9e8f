"""The brand dashboard behind a login: scans by country, language, product and day, open alerts.

Charts are SVG rendered on the server by pygal (from PyPI; no script, no CDN). Sessions are
signed cookies (HMAC-SHA256 with the configured session key), so any worker accepts them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
from datetime import UTC, datetime

import pygal
from aiohttp import web
from pygal.style import CleanStyle

from linectl.resolver.config import check_password
from linectl.resolver.services import SERVICES, Services

COOKIE = "linectl_resolver_session"
SESSION_S = 8 * 3600
DAY_MS = 86_400_000
_STYLE = """body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7}main{max-width:70rem;
margin:0 auto;padding:1rem}section{background:#fff;border-radius:.75rem;padding:1rem;margin:1rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left}form.inline{display:inline}"""


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def session_cookie(key: bytes, user: str, expires_ms: int) -> str:
    payload = base64.urlsafe_b64encode(f"{user}\n{expires_ms}".encode()).decode()
    return f"{payload}.{_sign(key, payload)}"


def session_user(key: bytes, cookie: str, now_ms: int) -> str | None:
    """The user of a valid, unexpired session cookie, else None."""
    payload, _, mac = cookie.partition(".")
    if not payload or not hmac.compare_digest(_sign(key, payload), mac):
        return None
    try:
        user, expires = base64.urlsafe_b64decode(payload).decode().split("\n")
        return user if int(expires) > now_ms else None
    except (ValueError, UnicodeDecodeError):
        return None


def _page(title: str, body: str) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


def _login_form(message: str = "") -> web.Response:
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return _page(
        "Brand login",
        f"<h1>Brand dashboard</h1>{note}<form method=post action=/brand/login>"
        "<p><label>User <input name=user autocomplete=username required></label></p>"
        "<p><label>Password <input name=password type=password autocomplete=current-password "
        "required></label></p><p><button>Log in</button></p></form>",
    )


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_form()


async def login(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    user = next((u for u in services.config.brand_users if u.name == name), None)
    ok = user is not None and await asyncio.to_thread(check_password, password, user.password_hash)
    if not ok:
        return _login_form("Wrong user name or password.")
    cookie = session_cookie(
        services.config.session_key(), name, services.now_ms() + SESSION_S * 1000
    )
    response = web.HTTPSeeOther("/brand")
    response.set_cookie(
        COOKIE, cookie, max_age=SESSION_S, httponly=True, samesite="Strict",
        secure=services.config.resolver.public_url.startswith("https:"), path="/brand",
    )  # fmt: skip
    raise response


def current_user(services: Services, request: web.Request) -> str | None:
    cookie = request.cookies.get(COOKIE, "")
    return (
        session_user(services.config.session_key(), cookie, services.now_ms()) if cookie else None
    )


def _chart(kind: str, title: str, pairs: list[tuple[str, int]]) -> str:
    chart_type = {"bar": pygal.Bar, "pie": pygal.Pie, "line": pygal.Line}[kind]
    chart = chart_type(
        title=title, js=[], disable_xml_declaration=True, style=CleanStyle, height=320,
        show_legend=kind == "pie",
    )  # fmt: skip
    if kind == "pie":
        for label, count in pairs:
            chart.add(label, count)
    else:
        chart.x_labels = [label for label, _ in pairs]
        chart.add("scans", [count for _, count in pairs])
    return str(chart.render(is_unicode=True))


async def dashboard(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    user = current_user(services, request)
    if user is None:
        raise web.HTTPSeeOther("/brand/login")
    days = 30
    since = services.now_ms() - days * DAY_MS
    stats = await services.store.scan_stats(since)
    products = {p.gtin: p.name("en") for p in await services.store.products()}
    by_day = [
        (datetime.fromtimestamp(int(day) * 86400, UTC).date().isoformat(), n)
        for day, n in stats["day"]
    ]
    by_product = [(products.get(str(g), str(g)), n) for g, n in stats["product"]]
    charts = await asyncio.to_thread(
        lambda: [
            _chart("bar", "Scans by country", [(str(k), n) for k, n in stats["country"]]),
            _chart("pie", "Scans by language", [(str(k), n) for k, n in stats["language"]]),
            _chart("bar", "Scans by product", by_product),
            _chart("line", "Scans by day", by_day),
        ]
    )
    alerts = await services.store.alerts("open")
    rows = "".join(
        f"<tr><td>{services.iso(a.at_ms)}</td><td>{html.escape(a.kind)}</td><td>{a.gtin}</td>"
        f"<td>{html.escape(a.lot or '')}</td><td>{html.escape(a.serial or '')}</td>"
        f"<td>{a.country or ''}</td><td>{html.escape(a.detail)}</td><td><form class=inline "
        f"method=post action=/brand/alerts/{a.id}/close><button>Close</button></form></td></tr>"
        for a in alerts
    )
    total = sum(n for _, n in stats["verdict"])
    body = (
        f"<h1>Scans of the last {days} days: {total}</h1><p>Logged in as {html.escape(user)}. "
        '<a href="/brand/logout">Log out</a></p>'
        f"<section class=charts>{''.join(f'<figure>{c}</figure>' for c in charts)}</section>"
        f"<section><h2>Open alerts ({len(alerts)})</h2><table id=alerts><tr><th>time</th>"
        "<th>kind</th><th>GTIN</th><th>lot</th><th>serial</th><th>country</th><th>detail</th>"
        f"<th></th></tr>{rows}</table></section>"
    )
    return _page("Brand dashboard", body)


async def close_alert(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if current_user(services, request) is None:
        raise web.HTTPSeeOther("/brand/login")
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    await services.store.close_alert(alert_id, services.now_ms())
    raise web.HTTPSeeOther("/brand")


async def alerts_json(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if current_user(services, request) is None:
        raise web.HTTPUnauthorized(text="log in at /brand/login")
    state = request.query.get("state", "open")
    alerts = await services.store.alerts(None if state == "all" else state)
    return web.json_response([a.to_json() for a in alerts])


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/brand/login")
    response.del_cookie(COOKIE, path="/brand")
    raise response
