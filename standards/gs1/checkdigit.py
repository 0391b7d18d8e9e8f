"""GS1 modulo-10 check digits (GTIN, SSCC, GLN and the other GS1 keys that carry one)."""

from __future__ import annotations

import functools

from standards.gs1.errors import Gs1Error


class CheckDigitError(Gs1Error):
    """A GS1 key whose check digit, length or characters are wrong."""


@functools.lru_cache(maxsize=1024)
def check_digit(body: str) -> str:
    """Return the GS1 check digit for ``body`` (all digits of the key except the last).

    Weights 3 and 1 alternate from the right-most digit of the body. Cached (a pure function):
    a line computes the same GTIN's digit for every pack.
    """
    if not body.isascii() or not body.isdigit():
        raise CheckDigitError(f"{body!r}: a GS1 key holds digits only")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def has_valid_check_digit(key: str) -> bool:
    """True when the last digit of ``key`` is the GS1 check digit of the rest."""
    return len(key) >= 2 and key.isascii() and key.isdigit() and check_digit(key[:-1]) == key[-1]


def validate_key(key: str, length: int, name: str) -> str:
    """Return ``key`` when it has ``length`` digits and a correct check digit, else raise."""
    if len(key) != length or not key.isascii() or not key.isdigit():
        raise CheckDigitError(f"{name} {key!r}: must be exactly {length} digits")
    expected = check_digit(key[:-1])
    if key[-1] != expected:
        raise CheckDigitError(f"{name} {key!r}: check digit is {key[-1]}, expected {expected}")
    return key


def validate_gtin14(gtin: str) -> str:
    """A GTIN-14 with a correct check digit (shorter GTINs are padded with leading zeros)."""
    if gtin.isascii() and gtin.isdigit() and len(gtin) in (8, 12, 13):
        gtin = gtin.zfill(14)
    return validate_key(gtin, 14, "GTIN")


def validate_sscc(sscc: str) -> str:
    """An 18-digit SSCC with a correct check digit."""
    return validate_key(sscc, 18, "SSCC")


def validate_gln(gln: str) -> str:
    """A 13-digit GLN with a correct check digit."""
    return validate_key(gln, 13, "GLN")


def make_sscc(extension_digit: int, company_prefix: str, serial_reference: int) -> str:
    """Build an SSCC: extension digit, company prefix, padded serial reference, check digit."""
    if not 0 <= extension_digit <= 9:
        raise CheckDigitError(f"SSCC extension digit {extension_digit}: must be 0-9")
    if not company_prefix.isdigit() or not 6 <= len(company_prefix) <= 12:
        raise CheckDigitError(f"company prefix {company_prefix!r}: must be 6 to 12 digits")
    ref_len = 16 - len(company_prefix)
    if not 0 <= serial_reference < 10**ref_len:
        raise CheckDigitError(
            f"SSCC serial reference {serial_reference}: must fit in {ref_len} digits "
            f"with a {len(company_prefix)}-digit company prefix"
        )
    body = f"{extension_digit}{company_prefix}{serial_reference:0{ref_len}d}"
    return body + check_digit(body)
