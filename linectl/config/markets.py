"""Market code profiles: what the code on a pack carries for one market, and its printed text.

A profile names the AIs in marking order (any of linectl's AI table, the national healthcare
reimbursement numbers 710-717 included), element string or GS1 Digital Link, DataMatrix or QR,
the human-readable lines in the market's language, and whether the market requires randomised
serials (EU: Delegated Regulation 2016/161, Article 4). linectl ships the profiles of
:data:`BUILTIN_PROFILES`; ``[line.profiles.NAME]`` adds one or replaces a shipped one.
A work order names its profile; the AIs the work order itself does not hold (GTIN, lot, expiry)
and the serial, the national numbers for example, come with the work order as code fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator

from linectl.config.section import Section
from standards.gs1.ai import NHRN_AIS, spec_for
from standards.gs1.code_layout import SERIAL_AI, CodeLayout, CodeTemplate, check_layout
from standards.gs1.errors import Gs1Error

PROFILE_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"
ORDER_AIS = frozenset({"01", "10", "17"})
"""AIs whose values the work order holds itself (GTIN, lot, expiry)."""
MAX_HRI_LINES = 6
_PLACEHOLDER = re.compile(r"\{(\d{2,4})\}")


class CodeProfile(Section):
    """One market's code: ``[line.profiles.NAME]``."""

    description: str = ""
    market: Annotated[str, Field(pattern=r"^[A-Z]{2}$|^EU$")]
    ais: Annotated[list[str], Field(min_length=2, max_length=12)]
    form: Literal["element-string", "digital-link"] = "element-string"
    symbology: Literal["datamatrix", "qr"] = "datamatrix"
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]
    hri: Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=MAX_HRI_LINES)]
    randomised_serials: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> CodeProfile:
        try:
            check_layout(self.ais, digital_link=self.form == "digital-link")
        except Gs1Error as exc:
            raise ValueError(f"ais: {exc}") from None
        if self.symbology == "qr" and self.form == "element-string":
            raise ValueError(
                "symbology 'qr' needs form 'digital-link' (GS1 element strings in QR are not "
                "supported by the ZPL printers)"
            )
        for number, line in enumerate(self.hri, start=1):
            for ai in _PLACEHOLDER.findall(line):
                if ai not in self.ais:
                    raise ValueError(f"hri line {number} {line!r}: {{{ai}}} is not in ais")
            if _PLACEHOLDER.findall(line).count(SERIAL_AI) > 1:
                raise ValueError(f"hri line {number} {line!r}: {{21}} more than once")
            rest = _PLACEHOLDER.sub("", line)
            if "{" in rest or "}" in rest:
                raise ValueError(f"hri line {number} {line!r}: a brace outside {{AI}}")
        return self

    @property
    def layout(self) -> CodeLayout:
        return CodeLayout(tuple(self.ais), digital_link=self.form == "digital-link")

    @property
    def code_fields(self) -> tuple[str, ...]:
        """AIs whose values the work order must bring as code fields (e.g. 710 for a PZN)."""
        return tuple(ai for ai in self.ais if ai not in ORDER_AIS and ai != SERIAL_AI)

    def missing_fields(self, fields: Mapping[str, str]) -> list[str]:
        """What is wrong with a work order's code fields for this profile (empty: nothing)."""
        problems = [
            f"needs AI ({ai}) {spec_for(ai).name}, e.g. --nhrn {ai}=VALUE"
            for ai in self.code_fields
            if ai not in fields
        ]
        problems += [f"does not mark AI ({ai})" for ai in fields if ai not in self.code_fields]
        return problems

    @property
    def national_numbers(self) -> tuple[str, ...]:
        """The NHRN AIs (710-717) of the profile."""
        return tuple(ai for ai in self.ais if ai in NHRN_AIS)


def hri_parts(lines: list[str], values: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    """Each HRI line filled in but for the serial: (text before, text after) the serial, or
    (text, None) for a line without it. Per pack only the serial is joined in."""
    parts: list[tuple[str, str | None]] = []
    for line in lines:
        filled = _PLACEHOLDER.sub(
            lambda m: "\0" if m.group(1) == SERIAL_AI else values[m.group(1)], line
        )
        head, mark, tail = filled.partition("\0")
        parts.append((head, tail if mark else None))
    return tuple(parts)


def profile_template(
    profile: CodeProfile, values: Mapping[str, str], *, domain: str, allow_day_zero: bool
) -> CodeTemplate:
    """The batch's code template; Gs1Error naming the AI that is missing or wrong."""
    return profile.layout.template(values, domain=domain, allow_day_zero=allow_day_zero)


def _builtin(
    market: str, description: str, ais: str, language: str, hri: list[str], **extra: object
) -> CodeProfile:
    return CodeProfile.model_validate(
        {
            "market": market,
            "description": description,
            "ais": ais.split(),
            "language": language,
            "hri": hri,
        }
        | extra
    )


BUILTIN_PROFILES: dict[str, CodeProfile] = {
    "eu": _builtin(
        "EU",
        "EU generic (Falsified Medicines Directive): product code, expiry, batch, serial",
        "01 17 10 21",
        "en",
        ["PC: {01}", "SN: {21}", "Lot: {10} EXP: {17}"],
        randomised_serials=True,
    ),
    "de-pzn": _builtin(
        "DE",
        "Germany (securPharm, GS1 format): with the PZN as NHRN (710)",
        "01 17 10 21 710",
        "de",
        ["PZN: {710}", "SN: {21}", "Ch.-B.: {10} Verw. bis: {17}"],
        randomised_serials=True,
    ),
    "fr-cip": _builtin(
        "FR",
        "France: with the CIP code as NHRN (711)",
        "01 17 10 21 711",
        "fr",
        ["CIP : {711}", "N° série : {21}", "Lot : {10} EXP : {17}"],
        randomised_serials=True,
    ),
    "us-dscsa": _builtin(
        "US",
        "USA (DSCSA product identifier): GTIN, expiry, lot, serial",
        "01 17 10 21",
        "en-US",
        ["GTIN: {01}", "SN: {21}", "LOT: {10} EXP: {17}"],
    ),
    "us-dscsa-dl": _builtin(
        "US",
        "USA (DSCSA) as a GS1 Digital Link URI in a DataMatrix",
        "01 17 10 21",
        "en-US",
        ["GTIN: {01}", "SN: {21}", "LOT: {10} EXP: {17}"],
        form="digital-link",
    ),
}
"""The profiles linectl ships (docs/markets.md lists them; a test checks the table)."""
