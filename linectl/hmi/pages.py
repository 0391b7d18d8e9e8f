"""The HMI's pages: server-rendered templates, live figures pushed over Server-Sent Events.

Every browser's ``/events`` stream sends the shared line summary at most ``push_per_s`` times a
second, only when it changed: counters are coalesced, never one message per pack per client.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel.support import NullTranslations
from markupsafe import Markup

from linectl.hmi import i18n
from linectl.hmi.messages import ALARMS, Msg, alarm_kind
from linectl.hmi.security import HEADERS, LIVE_HEADER, SESSIONS, Handler, refusal, session_of
from linectl.hmi.sessions import HmiSession
from linectl.hmi.view import LineView
from linectl.identity import SIGNED_ACTIONS, Permission
from linectl.line.reasons import RejectReason

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

VIEW = web.AppKey("view", LineView)
PUSH_INTERVAL = web.AppKey("push_interval", float)
TARGET_SPEED = web.AppKey("target_speed", int)  # packs/min from [line]; 0: not configured
SEEN = web.RequestKey("view_version", int)  # the view's version when the request came in
KEEPALIVE_S = 15.0

STATE_NAMES = (
    "UNDEFINED", "CLEARING", "STOPPED", "STARTING", "IDLE", "SUSPENDED", "EXECUTE", "STOPPING",
    "ABORTING", "ABORTED", "HOLDING", "HELD", "UNHOLDING", "SUSPENDING", "UNSUSPENDING",
    "RESETTING", "COMPLETING", "COMPLETE",
)  # fmt: skip


class Renderer:
    """One Jinja environment per language (autoescape on), with the locale's number filters."""

    def __init__(self, translations: dict[str, NullTranslations]) -> None:
        self.envs: dict[str, jinja2.Environment] = {}
        for language, translation in translations.items():
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(TEMPLATES),
                autoescape=True,
                extensions=["jinja2.ext.i18n"],
                undefined=jinja2.StrictUndefined,
            )
            env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
            env.filters["num"] = lambda v, d=0, lang=language: i18n.number(v, lang, d)
            env.filters["pct"] = lambda v, lang=language: i18n.percent(v, lang)
            env.filters["when"] = lambda v, lang=language: i18n.when(v, lang)
            env.filters["iso"] = lambda v, lang=language: i18n.when_iso(v, lang)
            env.filters["alarm"] = lambda code, tr=translation, lang=language: Msg.key(
                "alarm", alarm_kind(code)
            ).text(tr, lang)
            self.envs[language] = env
        self.translations = translations

    def text(self, language: str, message: Msg) -> str:
        return message.text(self.translations[language], language)

    def page(
        self,
        request: web.Request,
        template: str,
        status: int = 200,
        *,
        message: Msg | None = None,
        error: bool = False,
        **context: Any,
    ) -> web.Response:
        """``template`` in the user's language; ``message`` (or the one a redirect left in the
        session) is translated here: a page never shows a text that is not a catalogue's."""
        session = session_of(request)
        env = self.envs[session.language]
        if request.headers.get(LIVE_HEADER) != "1":  # a live re-read leaves it to the page
            if session.flash is not None and message is None:
                message, error = session.flash
            session.flash = None
        if message is not None and not isinstance(message, Msg):
            raise TypeError(f"a page message must be a catalogue Msg, not {message!r}")
        text = env.get_template(template).render(
            session=session,
            path=request.path,
            languages=[(code, i18n.language_name(code)) for code in i18n.LANGUAGES],
            labels_json=script_json(self.labels(session.language)),
            signed=SIGNED_ACTIONS,
            Permission=Permission,
            version=request.get(SEEN, 0),
            message=self.text(session.language, message) if message is not None else None,
            detail=message.detail if message is not None else "",
            error=error,
            **context,
        )
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def labels(self, language: str) -> dict[str, Any]:
        """Texts the live script needs, translated (state names, device and alarm words)."""
        t = self.translations[language].gettext
        return {
            "states": {name: t(f"state:{name}") for name in STATE_NAMES},
            "connected": t("connected"),
            "lost": t("lost"),
            "holds": t("holds the line"),
            "none": t("none"),
            "reasons": {r.value: t(f"reason:{r.value}") for r in RejectReason},
            "alarms": {code: t(f"alarm:{code}") for code in ALARMS},
        }


RENDER = web.AppKey("render", Renderer)


@web.middleware
async def seen_version(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Note the view's version before a page reads the daemon: the page says it (``<body
    data-version>``), and the live script fetches it again once its screen changed later."""
    request[SEEN] = request.app[VIEW].version
    return await handler(request)


def script_json(value: Any) -> Markup:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>``)."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return Markup(text)


def plotly_js() -> Path:
    """plotly.js as shipped in the ``plotly`` package on PyPI (served, never copied)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package is not installed (pip install -e .)")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


async def vendor_plotly(request: web.Request) -> web.FileResponse:
    return web.FileResponse(plotly_js(), headers={"Cache-Control": "public, max-age=86400"})


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def render(request: web.Request) -> Renderer:
    renderer: Renderer = request.app[RENDER]
    return renderer


async def overview(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    target = request.app[TARGET_SPEED] or None
    return render(request).page(request, "overview.html", view=view.summary(), target=target)


async def events(request: web.Request) -> web.StreamResponse:
    """The browser's live feed: ``view`` messages (the summary), throttled and coalesced."""
    view = request.app[VIEW]
    interval = request.app[PUSH_INTERVAL]
    response = web.StreamResponse(
        headers={
            **HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    version = -1
    try:
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    version = await view.changed_since(version)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(b"event: view\ndata: " + view.summary_json() + b"\n\n")
            await asyncio.sleep(interval)  # the throttle: at most one push per interval
    except ConnectionResetError:
        return response


async def set_language(request: web.Request) -> web.Response:
    form = await request.post()
    language = str(form.get("language", ""))
    if language not in i18n.LANGUAGES:
        raise refusal(
            request,
            web.HTTPBadRequest,
            Msg("Unknown language %(language)s.", language=language[:10]),
        )
    session: HmiSession = session_of(request)
    request.app[SESSIONS].set_language(session, language)
    back = str(form.get("next", "/"))
    raise web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//") else "/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", overview)
    app.router.add_get("/events", events)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/vendor/plotly.min.js", vendor_plotly)
    app.router.add_post("/language", set_language)
    app.router.add_static("/static/", STATIC, append_version=False)
