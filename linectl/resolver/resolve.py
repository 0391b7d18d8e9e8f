"""GS1 Digital Link resolution (GS1-Conformant Resolver Standard): 307 per linkType, linksets.

``GET /01/{gtin}[/22/..][/10/{lot}][/21/{serial}]`` with data attributes (``17``...) in the query:

- a malformed Digital Link (check digit, unknown or misplaced AI, bad value) is a 400 naming it;
- a primary key other than a GTIN, or a GTIN without product data, is a 404;
- ``linkType=all`` or ``Accept: application/linkset+json``: the RFC 9264 linkset;
- otherwise a 307 to the link of the requested ``linkType`` (default: the configured default,
  the verification page for a serialised code) in the best language of ``Accept-Language``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from linectl.resolver.model import Product
from linectl.resolver.services import SERVICES, Services, problem
from standards.gs1.digital_link import DigitalLinkParts, build_digital_link, parse_digital_link
from standards.gs1.errors import Gs1Error

GS1_VOC = "https://gs1.org/voc/"
LINKSET_TYPE = "application/linkset+json"
VERIFICATION = "gs1:verificationService"
RECALL = "gs1:recallStatus"
DEFAULT = "gs1:defaultLink"
TITLES = {
    "gs1:pip": "Product information",
    "gs1:epil": "Electronic patient information leaflet",
    "gs1:verificationService": "Verify this pack",
    "gs1:recallStatus": "Recall status",
    "gs1:defaultLink": "Default link",
    "gs1:productSustainabilityInfo": "Sustainability information",
    "gs1:smpc": "Summary of product characteristics",
}


@dataclass(frozen=True)
class Link:
    link_type: str
    href: str
    language: str | None
    title: str


def invalid_link(exc: Gs1Error) -> web.Response:
    return problem(
        400,
        "https://ref.gs1.org/standards/resolver/invalid-digital-link",
        "Malformed GS1 Digital Link",
        str(exc),
    )


def parse_request(services: Services, request: web.Request, prefix: str = "") -> DigitalLinkParts:
    """The Digital Link the request names (path after ``prefix``, and the query)."""
    path = request.raw_path.partition("?")[0].removeprefix(prefix)
    query = request.query_string
    uri = services.config.resolver.public_url + path + (f"?{query}" if query else "")
    return parse_digital_link(uri)


def qualifiers_of(parts: DigitalLinkParts) -> dict[str, str]:
    return {ai: value for ai, value in parts.qualifiers}


def canonical(services: Services, parts: DigitalLinkParts, prefix: str = "") -> str:
    """The Digital Link of the pack on this resolver's domain (no data attributes)."""
    return build_digital_link(
        services.config.resolver.public_url + prefix, parts.key_ai, parts.key, qualifiers_of(parts)
    )


def links_for(services: Services, parts: DigitalLinkParts, product: Product) -> list[Link]:
    """Every link of this pack: product master data plus the resolver's own services."""
    links = [
        Link(link_type, href, language, TITLES.get(link_type, link_type))
        for link_type, by_language in sorted(product.links.items())
        for language, href in sorted(by_language.items())
    ]
    if parts.qualifier("21") is not None:
        for language in services.config.resolver.languages:
            href = canonical(services, parts, "/verify") + f"?lang={language}"
            links.append(Link(VERIFICATION, href, language, TITLES[VERIFICATION]))
    lot = parts.qualifier("10")
    if lot is not None:
        href = build_digital_link(
            services.config.resolver.public_url + "/recall-status", "01", parts.key, {"10": lot}
        )
        links.append(Link(RECALL, href, None, TITLES[RECALL]))
    return links


def default_link(services: Services, links: list[Link], language: str) -> Link | None:
    preferred = (VERIFICATION, "gs1:pip", "gs1:epil")
    for link_type in preferred:
        chosen = pick(links, link_type, language, services.config.resolver.default_language)
        if chosen is not None:
            return chosen
    return links[0] if links else None


def pick(links: list[Link], link_type: str, language: str, fallback: str) -> Link | None:
    """The link of ``link_type`` in ``language``, else in ``fallback``, else any."""
    matching = [link for link in links if link.link_type == link_type]
    for wanted in (language, fallback, None):
        for link in matching:
            if wanted is None or link.language == wanted:
                return link
    return None


def _link_type(value: str) -> str:
    """``gs1:pip`` from ``gs1:pip`` or ``https://gs1.org/voc/pip``."""
    return "gs1:" + value.removeprefix(GS1_VOC) if value.startswith(GS1_VOC) else value


def linkset(
    anchor: str, product: Product, links: list[Link], default: Link | None, lang: str
) -> dict[str, Any]:
    """The RFC 9264 linkset of one pack, as GS1's linkset schema wants it."""
    entry: dict[str, Any] = {"anchor": anchor, "itemDescription": product.name(lang)}
    if default is not None:
        entry[GS1_VOC + "defaultLink"] = [{"href": default.href, "title": default.title}]
    for link in links:
        item: dict[str, Any] = {"href": link.href, "title": link.title, "type": "text/html"}
        if link.language is not None:
            item["hreflang"] = [link.language]
        if link.link_type == RECALL:
            item["type"] = "application/json"
        key = GS1_VOC + link.link_type.removeprefix("gs1:")
        entry.setdefault(key, []).append(item)
    return {"linkset": [entry]}


async def resolve(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        parts = parse_request(services, request)
    except Gs1Error as exc:
        return invalid_link(exc)
    if parts.key_ai != "01":
        return problem(
            404, "not-found", "Not resolved here", f"no links for primary key ({parts.key_ai})"
        )
    product = await services.store.product(parts.key)
    if product is None:
        return problem(
            404, "not-found", "Unknown GTIN", f"GTIN {parts.key} has no product data here"
        )
    language = services.language(request)
    links = links_for(services, parts, product)
    default = default_link(services, links, language)
    anchor = canonical(services, parts)
    wanted = _link_type(parts.other_query.get("linkType", ""))
    accept = request.headers.get("Accept", "")
    if wanted == "all" or (LINKSET_TYPE in accept and not wanted):
        body = linkset(anchor, product, links, default, language)
        return web.json_response(body, content_type=LINKSET_TYPE)
    chosen = (
        pick(links, wanted, language, services.config.resolver.default_language) if wanted else None
    )
    chosen = chosen or default
    if chosen is None:
        return problem(404, "not-found", "No link", f"GTIN {parts.key} has no links")
    serial = parts.qualifier("21")
    if chosen.link_type != VERIFICATION and serial is not None:
        await services.scan(
            parts.key, serial, parts.qualifier("10"),
            country=services.country(request), language=language, source="redirect",
        )  # fmt: skip
    location = chosen.href
    if chosen.link_type == VERIFICATION and parts.attributes:  # the page checks them too
        location += "".join(f"&{ai}={value}" for ai, value in parts.attributes)
    headers = {
        "Location": location,
        "Link": f'<{anchor}?linkType=all>; rel="linkset"; type="{LINKSET_TYPE}"',
        "Vary": "Accept, Accept-Language",
        "Cache-Control": "no-store",
    }
    return web.Response(status=307, headers=headers)


async def well_known(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    return web.json_response(
        {
            "name": "linectl resolver",
            "resolverRoot": services.config.resolver.public_url,
            "supportedPrimaryKeys": ["01"],
            "linkTypeDefaultCanBeLinkset": True,
            "supportedLinkType": [
                {"namespace": GS1_VOC, "prefix": "gs1:", "profile": GS1_VOC + "?show=linktypes"}
            ],
            "supportedContextValuesEnumerated": [],
            "languages": services.config.resolver.languages,
            "linkTypes": sorted(TITLES),
        }
    )


async def recall_status(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        parts = parse_request(services, request, "/recall-status")
    except Gs1Error as exc:
        return invalid_link(exc)
    lot = parts.qualifier("10")
    if parts.key_ai != "01" or lot is None:
        return problem(404, "not-found", "No lot", "recall status needs /01/{gtin}/10/{lot}")
    record = await services.store.lot(parts.key, lot)
    return web.json_response(
        {
            "gtin": parts.key,
            "lot": lot,
            "known": record is not None,
            "recalled": bool(record and record.recalled),
            "reason": record.recall_reason if record else None,
            "recalledAt": services.iso(record.recalled_ms)
            if record and record.recalled_ms
            else None,
        }
    )
