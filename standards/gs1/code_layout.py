"""A market's code content: which AIs, in which order, as element string or Digital Link (pure).

A :class:`CodeLayout` is the GS1 part of a market code profile: the AIs of the code in marking
order (GTIN (01) and serial (21) always among them) and whether the code carries a GS1 element
string or a GS1 Digital Link URI. :meth:`CodeLayout.template` turns the values of one batch into
a :class:`CodeTemplate` whose :meth:`CodeTemplate.data` only joins the serial in, so the per-pack
cost does not grow with the number of AIs.

Element string: the AIs in the layout's order (not re-sorted), a GS after every variable-length
field that is not the last. Digital Link: the path is fixed by the GS1 Digital Link standard
(``/01/{gtin}`` then the key qualifiers (22), (10), (21) in that order, as the dictionary's
``dlpkey=22,10,21`` says); every other AI goes into the query string in the layout's order and
must be allowed as a data attribute (dictionary flag ``?``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from standards.gs1.ai import AI_TABLE, spec_for, validate_value
from standards.gs1.epc import dl_encode
from standards.gs1.errors import Gs1Error

GTIN_KEY_QUALIFIERS = ("22", "10", "21")
"""The GTIN's Digital Link key qualifiers in path order (dictionary: ``dlpkey=22,10,21``)."""

SERIAL_AI = "21"


def check_layout(ais: Sequence[str], *, digital_link: bool) -> tuple[str, ...]:
    """``ais`` when they make a product code linectl can mark, else Gs1Error saying why.

    Every AI must be in linectl's table, none twice, (01) and (21) present, no SSCC (00); in a
    Digital Link every AI outside the path must be allowed as a data attribute.
    """
    ais = tuple(ais)
    for ai in ais:
        if ai not in AI_TABLE:
            known = ", ".join(f"({code})" for code in AI_TABLE if code != "00")
            raise Gs1Error(f"AI ({ai}) is not one linectl marks (known: {known})", ai=ai)
    twice = sorted({ai for ai in ais if ais.count(ai) > 1})
    if twice:
        raise Gs1Error(f"AI ({twice[0]}) is listed twice", ai=twice[0])
    for needed in ("01", SERIAL_AI):
        if needed not in ais:
            raise Gs1Error(
                f"AI ({needed}) is missing: a pack code needs GTIN and serial", ai=needed
            )
    if "00" in ais:
        raise Gs1Error("AI (00) is a logistic unit's SSCC, not part of a pack code", ai="00")
    if digital_link:
        for ai in ais:
            if ai != "01" and ai not in GTIN_KEY_QUALIFIERS and not spec_for(ai).dl_attribute:
                raise Gs1Error(
                    f"AI ({ai}) is not allowed as a GS1 Digital Link data attribute", ai=ai
                )
    return ais


@dataclass(frozen=True)
class CodeLayout:
    """The AIs of a pack code in marking order, and its form (element string or Digital Link)."""

    ais: tuple[str, ...]
    digital_link: bool = False

    def __post_init__(self) -> None:
        check_layout(self.ais, digital_link=self.digital_link)

    def template(
        self,
        values: Mapping[str, str],
        *,
        domain: str = "https://id.gs1.org",
        allow_day_zero: bool = False,
    ) -> CodeTemplate:
        """The code of one batch with the serial left open; Gs1Error naming a missing or bad AI."""
        checked: dict[str, str] = {}
        for ai in self.ais:
            if ai == SERIAL_AI:
                continue
            if not values.get(ai):
                raise Gs1Error(f"AI ({ai}) {spec_for(ai).name}: no value given", ai=ai)
            checked[ai] = validate_value(ai, values[ai], allow_day_zero=allow_day_zero)
        extra = sorted(set(values) - set(self.ais))
        if extra:
            raise Gs1Error(f"AI ({extra[0]}) is given but not part of the code", ai=extra[0])
        if self.digital_link:
            head, tail = _digital_link_parts(self.ais, checked, domain.rstrip("/"))
        else:
            head, tail = _element_string_parts(self.ais, checked)
        return CodeTemplate(self, checked, head, tail)


@dataclass(frozen=True)
class CodeTemplate:
    """One batch's code with the serial open: ``data(serial)`` is head + serial + tail."""

    layout: CodeLayout
    values: Mapping[str, str]
    """AI -> value of every AI but the serial."""
    head: str
    tail: str

    def data(self, serial: str) -> str:
        """The code's data for ``serial`` (not validated here: the caller checks AI 21 once)."""
        if self.layout.digital_link:
            return self.head + dl_encode(serial) + self.tail
        return self.head + serial + self.tail

    def expected(self, serial: str) -> dict[str, str]:
        """AI -> value the code for ``serial`` carries, in layout order."""
        return {ai: serial if ai == SERIAL_AI else self.values[ai] for ai in self.layout.ais}


def _element_string_parts(ais: Sequence[str], values: Mapping[str, str]) -> tuple[str, str]:
    head: list[str] = []
    tail: list[str] = []
    side = head
    for index, ai in enumerate(ais):
        last = index == len(ais) - 1
        separator = "" if last or not spec_for(ai).needs_separator else "\x1d"
        if ai == SERIAL_AI:
            head.append(ai)
            side = tail
            tail.append(separator)
            continue
        side.append(ai + values[ai] + separator)
    return "".join(head), "".join(tail)


def _digital_link_parts(
    ais: Sequence[str], values: Mapping[str, str], domain: str
) -> tuple[str, str]:
    path = f"{domain}/01/{values['01']}"
    for ai in GTIN_KEY_QUALIFIERS:
        if ai == SERIAL_AI:
            path += "/21/"
            break
        if ai in ais:
            path += f"/{ai}/{dl_encode(values[ai])}"
    query = [
        f"{ai}={dl_encode(values[ai])}"
        for ai in ais
        if ai != "01" and ai not in GTIN_KEY_QUALIFIERS
    ]
    return path, ("?" + "&".join(query)) if query else ""
