"""EPCIS Event Hash ID (CBV 2.0 section 8.9): the canonical pre-hash string and its ``ni:`` URI.

Every event linectl sends carries this hash as its ``eventID``, so a re-sent event is recognisable
upstream and delivery is idempotent. The pre-hash string concatenates ``key=value`` pieces with no
separator, in the canonical property order below, after normalising values:

- ``eventType`` first; ``eventID``, ``recordTime`` and ``errorDeclaration`` never take part.
- timestamps in UTC with ``Z`` and exactly three fraction digits; the third is rounded up when the
  fourth is 5-9 (``11:04:03.1415Z`` -> ``11:04:03.142Z``), further digits are ignored.
- numbers without trailing zeros (``452.0`` -> ``452``); as in the reference implementation this
  also applies to strings that read as numbers, wherever they appear.
- CBV short names and legacy CBV URNs as CBV 2.0 web URIs, standard CURIEs (gs1:, cbv:, epcis:)
  expanded; EPC URNs, EPC classes, EPC patterns and Digital Links as canonical Digital Links
  (see :mod:`standards.gs1.epc_schemes`).
- lists sorted by their pieces' text (code-point order); ``type`` before the value in
  bizTransaction, source and destination; a list's name appears once.
- ILMD and user extensions as ``{namespace}localName=value``, siblings sorted; extensions inside
  readPoint, bizLocation and sensor elements follow that element's standard fields.

The document's ``@context`` is needed only to expand the namespace prefixes of extension names;
the standard EPCIS 2.0 context is built in (:mod:`standards.epcis.vocabulary`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from standards.epcis.vocabulary import CBV_URN_TO_WEB, STANDARD_PREFIXES, expand_vocab
from standards.gs1.epc_schemes import canonical_dl

HASH_VERSION = "CBV2.0"

Context = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]] | None

_IGNORED = frozenset({"type", "eventID", "recordTime", "errorDeclaration", "@context"})
_EXPANDED_VALUE_PREFIXES = ("gs1", "cbv", "epcis")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?")
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):?(\d{2}))"
)
_METADATA_ORDER = [
    *("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData"),
    *("dataProcessingMethod", "bizRules"),
]
_REPORT_ORDER = [
    *("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod"),
    *("time", "microorganism", "chemicalSubstance", "value", "component", "stringValue"),
    *("booleanValue", "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev"),
    *("percRank", "percValue", "uom", "coordinateReferenceSystem"),
]
_TIME_FIELDS = frozenset({"eventTime", "time", "startTime", "endTime"})
_REPORT_VOCAB = {"type": "measurementType", "exception": "exception", "component": "component"}


class EventHashError(ValueError):
    """An event that cannot be hashed; ``field`` is the path of the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}")


def hash_uri(prehash_string: str) -> str:
    """``ni:///sha-256;{hex digest}?ver=CBV2.0`` (RFC 6920) of a pre-hash string."""
    digest = hashlib.sha256(prehash_string.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def event_hash(event: Mapping[str, Any], context: Context = None) -> str:
    """The EPCIS Event Hash ID of ``event``; ``context`` is its document's ``@context``."""
    return hash_uri(prehash(event, context))


def document_prehashes(document: Mapping[str, Any]) -> list[str]:
    """Pre-hash strings of an EPCISDocument's events, in document order."""
    events = _event_list(document)
    return [prehash(event, document.get("@context")) for event in events]


def document_hashes(document: Mapping[str, Any]) -> list[str]:
    """Event Hash IDs of an EPCISDocument's events, in document order."""
    return [hash_uri(p) for p in document_prehashes(document)]


def prehash(event: Mapping[str, Any], context: Context = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON(-LD) event."""
    if not isinstance(event, Mapping):
        raise EventHashError("event", "must be a JSON object")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventHashError("type", "an event needs its type, e.g. ObjectEvent")
    canon = _Canon(_prefixes(context, event.get("@context")))
    return "eventType=" + event_type + canon.event_body(event)


def _event_list(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    body = document.get("epcisBody")
    if not isinstance(body, Mapping):
        raise EventHashError("epcisBody", "missing")
    events = body.get("eventList")
    if events is None and isinstance(body.get("queryResults"), Mapping):
        events = body["queryResults"].get("resultsBody", {}).get("eventList")
    if events is None and "event" in body:
        events = [body["event"]]
    if not isinstance(events, list):
        raise EventHashError("epcisBody.eventList", "must be a list of events")
    return events


def _prefixes(*contexts: Any) -> dict[str, str]:
    """Prefix / term -> IRI, from the standard context overlaid by the given contexts."""
    out = dict(STANDARD_PREFIXES)
    for context in contexts:
        items = context if isinstance(context, list) else [context]
        for item in items:
            if not isinstance(item, Mapping):
                continue
            for term, definition in item.items():
                iri = definition.get("@id") if isinstance(definition, Mapping) else definition
                if isinstance(term, str) and isinstance(iri, str) and not iri.startswith("@"):
                    out[term] = iri
    return out


def _timestamp(value: Any, field: str) -> str:
    """UTC, ``Z``, milliseconds; the fourth fraction digit (5-9) rounds the third up."""
    m = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    if not m:
        raise EventHashError(field, f"{value!r} is not a timestamp with a UTC offset")
    date, clock, fraction, zone, sign, hours, minutes = m.groups()
    try:
        local = datetime.fromisoformat(f"{date}T{clock}")
    except ValueError as exc:
        raise EventHashError(field, f"{value!r}: {exc}") from None
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    digits = (fraction or "").ljust(4, "0")
    millis = int(digits[:3]) + (1 if digits[3] >= "5" else 0)
    try:
        utc = (local - offset + timedelta(milliseconds=millis)).replace(tzinfo=UTC)
    except OverflowError:
        raise EventHashError(field, f"{value!r} is out of range") from None
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=1024)
def _text_value(text: str) -> str | None:
    """A stripped text value as it appears in the pre-hash string; None for a CURIE whose
    prefix the event's context expands. Cached: the same few values recur in every event."""
    for urn, web in CBV_URN_TO_WEB.items():
        if text.startswith(urn):
            return web + text[len(urn) :]
    prefix, colon, local = text.partition(":")
    if colon and prefix in _EXPANDED_VALUE_PREFIXES and not local.startswith("//"):
        return None
    if _NUMBER.fullmatch(text):
        try:
            return _number(text)
        except (InvalidOperation, ValueError):
            return text
    return canonical_dl(text) or text


def _number(text: str) -> str:
    """A decimal number without trailing zeros or exponent where it is integral."""
    value = Decimal(text)
    if value == value.to_integral_value():
        return str(int(value))
    return repr(float(value))


class _Canon:
    """Builds pre-hash pieces for one event, with the prefixes its contexts declare."""

    def __init__(self, prefixes: Mapping[str, str]) -> None:
        self.prefixes = prefixes

    # -- values -----------------------------------------------------------------------------

    def value(self, raw: Any, field: str) -> str:
        """A scalar as it appears in the pre-hash string."""
        if not isinstance(raw, str):
            if isinstance(raw, Mapping) and ("@value" in raw or "@id" in raw):
                raw = raw.get("@value", raw.get("@id"))
            if isinstance(raw, bool):
                return "true" if raw else "false"
            if isinstance(raw, int):
                return str(raw)
            if isinstance(raw, float):
                if not math.isfinite(raw):
                    raise EventHashError(field, f"{raw} is not a finite number")
                return _number(repr(raw))
            if not isinstance(raw, str):
                raise EventHashError(field, f"expected a text or number, got {type(raw).__name__}")
        text = raw.strip()
        if text.startswith("urn:epc:"):  # an EPC, the common case: nothing else starts so
            return canonical_dl(text) or text
        canonical = _text_value(text)
        if canonical is None:
            prefix, _, local = text.partition(":")
            return self.prefixes[prefix] + local
        return canonical

    def vocab(self, raw: Any, kind: str, field: str) -> str:
        text = raw.strip() if isinstance(raw, str) else raw
        return self.value(expand_vocab(kind, text) if isinstance(text, str) else text, field)

    def qname(self, key: str) -> str:
        """``{namespace}localName`` of an extension key (CURIE, term or absolute IRI)."""
        prefix, colon, local = key.partition(":")
        if colon and prefix in self.prefixes and not local.startswith("//"):
            return "{" + self.prefixes[prefix] + "}" + local
        iri = key if colon else self.prefixes.get(key, "")
        if "://" in iri:
            cut = max(iri.rfind("#"), iri.rfind("/"))
            return "{" + iri[: cut + 1] + "}" + iri[cut + 1 :]
        return key

    # -- extensions and ILMD ----------------------------------------------------------------

    def extension(self, key: str, raw: Any, field: str) -> list[str]:
        """Pieces of one extension element: nested elements inside, repeated ones side by side."""
        if raw is None:
            return []
        if isinstance(raw, list):
            return [piece for item in raw for piece in self.extension(key, item, field)]
        name = self.qname(key)
        if isinstance(raw, Mapping) and not ("@value" in raw or "@id" in raw):
            return [name + self.extensions(raw, f"{field}.{key}")]
        text = self.value(raw, f"{field}.{key}")
        return [f"{name}={text}" if text else name]

    def extensions(self, fields: Mapping[str, Any], path: str, skip: Iterable[str] = ()) -> str:
        """All elements of ``fields`` not in ``skip`` (nor JSON-LD keywords), sorted."""
        skipped = set(skip)
        pieces = [
            piece
            for key, raw in fields.items()
            if key not in skipped and not key.startswith("@")
            for piece in self.extension(key, raw, path)
        ]
        return "".join(sorted(pieces))

    # -- standard fields --------------------------------------------------------------------

    def event_body(self, event: Mapping[str, Any]) -> str:
        out: list[str] = []
        order = self._order()
        for name, build in order:
            if name in event and event[name] is not None:
                out.append(build(name, event[name]))
        standard = {name for name, _ in order} | _IGNORED
        out.append(self.extensions(event, "event", skip=standard))
        return "".join(out)

    def _order(self) -> list[tuple[str, Callable[[str, Any], str]]]:
        qty, epcs, typed = self.quantities, self.epcs, self.typed
        return [
            ("eventTime", self.plain),
            ("eventTimeZoneOffset", self.plain),
            ("certificationInfo", self.repeated),
            ("epcList", epcs),
            ("parentID", self.plain),
            ("inputEPCList", epcs),
            ("childEPCs", epcs),
            ("quantityList", qty),
            ("childQuantityList", qty),
            ("inputQuantityList", qty),
            ("outputEPCList", epcs),
            ("outputQuantityList", qty),
            ("action", self.plain),
            ("transformationID", self.plain),
            ("bizStep", lambda n, v: self.keyed(n, self.vocab(v, "bizStep", n))),
            ("disposition", lambda n, v: self.keyed(n, self.vocab(v, "disposition", n))),
            ("persistentDisposition", self.persistent),
            ("readPoint", self.location),
            ("bizLocation", self.location),
            (
                "bizTransactionList",
                lambda n, v: typed(n, v, "bizTransaction", "bizTransactionType"),
            ),
            # destinationList before sourceList: so every published test vector has it
            ("destinationList", lambda n, v: typed(n, v, "destination", "sourceDestType")),
            ("sourceList", lambda n, v: typed(n, v, "source", "sourceDestType")),
            ("sensorElementList", self.sensors),
            ("ilmd", self.ilmd),
        ]

    @staticmethod
    def keyed(name: str, text: str) -> str:
        return f"{name}={text}" if text else ""

    def plain(self, name: str, raw: Any) -> str:
        if name in _TIME_FIELDS:
            return self.keyed(name, _timestamp(raw, name))
        return self.keyed(name, self.value(raw, name))

    def repeated(self, name: str, raw: Any) -> str:
        items = raw if isinstance(raw, list) else [raw]
        return "".join(sorted(self.keyed(name, self.value(v, name)) for v in items))

    def _list(self, name: str, raw: Any) -> list[Any]:
        if not isinstance(raw, list):
            raise EventHashError(name, "must be a list")
        return raw

    def _object(self, name: str, raw: Any) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise EventHashError(name, "must be an object")
        return raw

    def epcs(self, name: str, raw: Any) -> str:
        pieces = sorted(f"epc={self.value(v, name)}" for v in self._list(name, raw))
        return name + "".join(pieces) if pieces else ""

    def quantities(self, name: str, raw: Any) -> str:
        pieces = []
        for i, element in enumerate(self._list(name, raw)):
            q = self._object(f"{name}[{i}]", element)
            text = "".join(
                self.keyed(key, self.value(q[key], f"{name}[{i}].{key}"))
                for key in ("epcClass", "quantity", "uom")
                if q.get(key) is not None
            )
            pieces.append("quantityElement" + text)
        return name + "".join(sorted(pieces)) if pieces else ""

    def persistent(self, name: str, raw: Any) -> str:
        pd = self._object(name, raw)
        text = ""
        for key in ("set", "unset"):
            values = pd.get(key) or []
            items = values if isinstance(values, list) else [values]
            text += "".join(sorted(f"{key}={self.vocab(v, name, name)}" for v in items))
        return name + text if text else ""

    def location(self, name: str, raw: Any) -> str:
        loc = self._object(name, raw)
        text = self.keyed("id", self.value(loc["id"], f"{name}.id")) if "id" in loc else ""
        text += self.extensions(loc, name, skip=("id",))
        return name + text if text else ""

    def typed(self, name: str, raw: Any, key: str, kind: str) -> str:
        pieces = []
        for i, element in enumerate(self._list(name, raw)):
            item = self._object(f"{name}[{i}]", element)
            path = f"{name}[{i}]"
            text = (
                self.keyed("type", self.vocab(item["type"], kind, path)) if "type" in item else ""
            )
            text += self.keyed(key, self.value(item.get(key, ""), f"{path}.{key}"))
            pieces.append(text + self.extensions(item, path, skip=("type", key)))
        return name + "".join(sorted(pieces)) if pieces else ""

    def sensors(self, name: str, raw: Any) -> str:
        elements = []
        for i, raw_element in enumerate(self._list(name, raw)):
            path = f"{name}[{i}]"
            element = self._object(path, raw_element)
            text = ""
            if element.get("sensorMetadata") is not None:
                meta = self._object(f"{path}.sensorMetadata", element["sensorMetadata"])
                text += self.sensor_part("sensorMetadata", meta, _METADATA_ORDER, path)
            reports = element.get("sensorReport") or []
            reports = reports if isinstance(reports, list) else [reports]
            text += "".join(
                sorted(
                    self.sensor_part("sensorReport", self._object(path, r), _REPORT_ORDER, path)
                    for r in reports
                )
            )
            text += self.extensions(element, path, skip=("sensorMetadata", "sensorReport"))
            elements.append("sensorElement" + text)
        return name + "".join(sorted(elements)) if elements else ""

    def sensor_part(self, name: str, part: Mapping[str, Any], order: list[str], path: str) -> str:
        text = ""
        for key in order:
            raw = part.get(key)
            if raw is None:
                continue
            field = f"{path}.{name}.{key}"
            if key in _TIME_FIELDS:
                text += self.keyed(key, _timestamp(raw, field))
            elif name == "sensorReport" and key in _REPORT_VOCAB:
                text += self.keyed(key, self.vocab(raw, _REPORT_VOCAB[key], field))
            else:
                text += self.keyed(key, self.value(raw, field))
        text += self.extensions(part, f"{path}.{name}", skip=order)
        return name + text if text else ""

    def ilmd(self, name: str, raw: Any) -> str:
        text = self.extensions(self._object(name, raw), name)
        return name + text if text else ""
