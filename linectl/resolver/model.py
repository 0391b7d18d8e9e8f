"""The records the resolver's store returns and its logic reads: products, serials, lots, scans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Product:
    """Product master data: names, links per link type and language, target markets."""

    gtin: str
    names: dict[str, str]
    """language -> product name"""
    descriptions: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    """link type (``gs1:pip``, ``gs1:epil``, ...) -> language -> URL"""
    target_markets: tuple[str, ...] = ()
    """ISO 3166 alpha-2 countries the product is shipped to; empty: everywhere."""

    def name(self, language: str, default: str = "en") -> str:
        return (
            self.names.get(language)
            or self.names.get(default)
            or next(iter(self.names.values()), self.gtin)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "names": self.names,
            "descriptions": self.descriptions,
            "image": self.image,
            "links": self.links,
            "target_markets": list(self.target_markets),
        }


@dataclass(frozen=True)
class SerialRecord:
    """One serial as the captured events and scans left it."""

    gtin: str
    serial: str
    lot: str | None
    expiry: str | None
    status: str
    status_detail: str | None
    status_ms: int
    parent: str | None
    commissioned_ms: int
    scan_count: int
    first_scan_ms: int | None
    first_scan_country: str | None
    decommissioned_by: str | None = None
    shipped_to: str | None = None
    """Where it (or the case / pallet holding it) was last shipped to."""
    pallet: str | None = None


@dataclass(frozen=True)
class LotRecord:
    gtin: str
    lot: str
    expiry: str | None
    recalled: bool
    recall_reason: str | None
    recalled_ms: int | None


@dataclass(frozen=True)
class Scan:
    """One scan as logged: no IP address, no device identifier."""

    at_ms: int
    gtin: str
    lot: str | None
    serial: str | None
    country: str | None
    language: str
    verdict: str
    source: str
    """``page``, ``api`` or ``redirect``."""


@dataclass(frozen=True)
class AlertDraft:
    """An alert a rule raised; ``key`` makes it one open alert, however often it recurs."""

    kind: str
    gtin: str
    lot: str | None
    serial: str | None
    country: str | None
    detail: str
    key: str


@dataclass(frozen=True)
class Alert:
    id: int
    at_ms: int
    kind: str
    gtin: str
    lot: str | None
    serial: str | None
    country: str | None
    detail: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at_ms": self.at_ms,
            "kind": self.kind,
            "gtin": self.gtin,
            "lot": self.lot,
            "serial": self.serial,
            "country": self.country,
            "detail": self.detail,
            "state": self.state,
        }


@dataclass(frozen=True)
class Delivery:
    """One alert to one webhook, with its attempts so far."""

    id: int
    alert: Alert
    url: str
    attempts: int


@dataclass(frozen=True)
class CaptureJob:
    """An EPCIS capture job (openapi ``CaptureJob``)."""

    id: str
    created_ms: int
    finished_ms: int | None
    running: bool
    success: bool
    behaviour: str
    errors: list[dict[str, Any]]


@dataclass
class ApplyOutcome:
    """What applying one capture job's events did."""

    stored: int = 0
    duplicates: int = 0
    changes: int = 0
