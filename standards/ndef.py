"""NDEF URI records (NFC Forum NDEF 1.0, URI RTD 1.0): a unit's GS1 Digital Link on an NFC tag.

A consumer's phone that taps the tag opens the URI, i.e. the resolver's page for that unit. The
record is one short or long well-known record of type "U" whose payload is one URI identifier code
(a prefix the reader puts back, URI RTD Table 3) and the rest of the URI in UTF-8. On an NFC Forum
Type 2 tag the message sits in an NDEF Message TLV (type 0x03) followed by a Terminator TLV (0xFE).
"""

from __future__ import annotations

from dataclasses import dataclass

#: URI RTD 1.0 Table 3, URI identifier codes 0x00-0x23 (0x24-0xFF are reserved for future use).
URI_PREFIXES: tuple[str, ...] = (
    "", "http://www.", "https://www.", "http://", "https://", "tel:", "mailto:",
    "ftp://anonymous:anonymous@", "ftp://ftp.", "ftps://", "sftp://", "smb://", "nfs://", "ftp://",
    "dav://", "news:", "telnet://", "imap:", "rtsp://", "urn:", "pop:", "sip:", "sips:", "tftp:",
    "btspp://", "btl2cap://", "btgoep://", "tcpobex://", "irdaobex://", "file://", "urn:epc:id:",
    "urn:epc:tag:", "urn:epc:pat:", "urn:epc:raw:", "urn:epc:", "urn:nfc:",
)  # fmt: skip

MB, ME, CF, SR, IL = 0x80, 0x40, 0x20, 0x10, 0x08
TNF_WELL_KNOWN = 0x01
URI_TYPE = b"U"
TLV_NDEF_MESSAGE, TLV_TERMINATOR = 0x03, 0xFE


class NdefError(ValueError):
    """A URI that cannot be written, or bytes that are not the NDEF URI message expected."""


@dataclass(frozen=True)
class UriRecord:
    """One NDEF URI record: the URI identifier code and the rest of the URI."""

    code: int
    rest: str

    @property
    def uri(self) -> str:
        return URI_PREFIXES[self.code] + self.rest


def uri_record(uri: str) -> UriRecord:
    """The record for ``uri`` with the longest matching prefix abbreviated."""
    if not uri:
        raise NdefError("URI is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise NdefError(f"URI {uri!r}: control characters are not allowed")
    code = max(
        (i for i, prefix in enumerate(URI_PREFIXES) if prefix and uri.startswith(prefix)),
        key=lambda i: len(URI_PREFIXES[i]),
        default=0,
    )
    return UriRecord(code, uri[len(URI_PREFIXES[code]) :])


def ndef_message(uri: str) -> bytes:
    """An NDEF message of one URI record (MB and ME set) holding ``uri``."""
    record = uri_record(uri)
    payload = bytes([record.code]) + record.rest.encode()
    if len(payload) < 256:
        header = bytes([MB | ME | SR | TNF_WELL_KNOWN, len(URI_TYPE), len(payload)])
    else:
        header = bytes([MB | ME | TNF_WELL_KNOWN, len(URI_TYPE)]) + len(payload).to_bytes(4, "big")
    return header + URI_TYPE + payload


def type2_tlv(message: bytes) -> bytes:
    """``message`` as an NFC Forum Type 2 tag holds it: NDEF Message TLV, Terminator TLV."""
    n = len(message)
    if n > 0xFFFE:
        raise NdefError(f"NDEF message of {n} bytes does not fit a TLV (at most 65534)")
    length = bytes([n]) if n < 0xFF else b"\xff" + n.to_bytes(2, "big")
    return bytes([TLV_NDEF_MESSAGE]) + length + message + bytes([TLV_TERMINATOR])


def parse_uri_message(data: bytes) -> str:
    """The URI of a one-record NDEF URI message (as :func:`ndef_message` writes); else NdefError."""
    if len(data) < 3:
        raise NdefError(f"NDEF message of {len(data)} bytes is too short")
    flags = data[0]
    if flags & (MB | ME) != MB | ME or flags & (CF | IL) or flags & 0x07 != TNF_WELL_KNOWN:
        raise NdefError(f"header 0x{flags:02X}: not one whole well-known record without ID")
    type_length = data[1]
    if flags & SR:
        payload_length, pos = data[2], 3
    else:
        payload_length, pos = int.from_bytes(data[2:6], "big"), 6
    record_type = data[pos : pos + type_length]
    payload = data[pos + type_length :]
    if record_type != URI_TYPE:
        raise NdefError(f"record type {record_type!r} is not 'U' (URI)")
    if len(payload) != payload_length or not payload:
        raise NdefError(f"payload is {len(payload)} bytes, header says {payload_length}")
    if payload[0] >= len(URI_PREFIXES):
        raise NdefError(f"URI identifier code 0x{payload[0]:02X} is reserved")
    try:
        rest = payload[1:].decode()
    except UnicodeDecodeError as exc:
        raise NdefError("URI field is not UTF-8") from exc
    return UriRecord(payload[0], rest).uri
