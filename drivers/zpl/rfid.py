"""RFID encoding in a ZPL II label format: write the tag's EPC bank, read it back, tell the host.

What the commands mean, per Zebra's RFID Programming Guide (58978L-008, and "RFID Programming
Guide 3 for Link-OS RFID printers", P1062165; the same pages on docs.zebra.com, ZPL RFID
commands ``^RS``, ``^RF``, ``^HV``)::

    ^RS8,,,1,N^FS              Gen 2 tags (t=8), default programming position and void length,
                               n=1 label tried, error handling N: a label that fails to encode is
                               printed with VOID across it and the format is dropped (the printer
                               goes on with the next one; no retry on a second label, so every
                               job still goes on exactly one pack)
    ^RFW,H,,,A^FD<hex>^FS      write the EPC bank from word 2 in hex; memory bank A = EPC with
                               the PC word's length bits adjusted to the data (6 words for
                               SGTIN-96 and SSCC-96, 13 for SGTIN-198)
    ^FN1^RFR,H,2,<n>,1^FS      read <n> bytes of the EPC bank (bank 1) from word 2 into field 1
    ^FH\\^HV1,<2n>,RFID seq=<seq> epc=,\\0D\\0A,L^FS
                               host verification: after the label is printed (a=L), send field 1
                               (<2n> hex characters) behind the header, CR LF after it

So the host learns per label what the tag holds after the write: ``RFID seq=12 epc=3034...``.
A void label leaves the read-back field empty (or, if the printer sends nothing for a dropped
format, no line arrives): either way the host never gets back the EPC it sent, which is how it
tells an encode failure. The ``seq`` in the header is the pack the job was meant for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.zpl.fielddata import FH_INDICATOR, decode_field_hex

READ_FIELD: Final = 1
"""The ``^FN`` field the read-back goes into."""
READBACK_HEADER: Final = "RFID seq="
"""How every read-back line the printer returns begins (the ``^HV`` header's fixed part)."""
MAX_EPC_BYTES: Final = 62
"""The longest EPC bank linectl writes (496 bits, the Gen 2 limit); SGTIN-198 takes 26."""
_HEX: Final = re.compile(r"[0-9A-F]*")
_READBACK: Final = re.compile(rb"RFID seq=(\d{1,10}) epc=([0-9A-Fa-f]*)\r?\n")


@dataclass(frozen=True, slots=True)
class HostVerify:
    """A ``^HV`` command: which field goes to the host, how long, with what around it."""

    field: int
    length: int
    header: str
    terminator: str
    per_label: bool  # a = L (one reply per label printed) rather than F (per format)


@dataclass(frozen=True, slots=True)
class RfidFormat:
    """The RFID part of a parsed label: what to write, where to read it back, what to return."""

    write: str | None = None  # hex written into the EPC bank (None: no ^RFW)
    adjust_pc: bool = False  # memory bank A: the PC word's length follows the data
    read_field: int | None = None  # the ^FN field a ^RFR reads into
    read_bytes: int = 0
    verify: HostVerify | None = None
    tries: int = 3  # ^RS n: labels tried before the error handling applies
    on_error: str = "N"  # ^RS e: N drop the format, P pause, E error mode


@dataclass(frozen=True, slots=True)
class ReadBack:
    """One read-back the printer returned: the pack seq of the job and the EPC bank read (hex,
    upper case; empty when the tag could not be read: a void label)."""

    seq: int
    epc: str


def check_epc_hex(epc: str, where: str) -> str:
    """``epc`` as upper-case hex of whole 16-bit words; ValueError naming ``where`` otherwise."""
    text = epc.upper()
    if not text or not _HEX.fullmatch(text) or len(text) % 4:
        raise ValueError(f"{where}: EPC {epc!r} is not hex of whole 16-bit words")
    if len(text) // 2 > MAX_EPC_BYTES:
        raise ValueError(f"{where}: EPC of {len(text) // 2} bytes, more than {MAX_EPC_BYTES}")
    return text


def encode_commands(seq: int, epc: str) -> list[str]:
    """The ZPL commands that encode ``epc`` (hex) into the label's tag and return the read-back
    for pack ``seq`` (see the module docstring). ValueError for an EPC that is not hex words."""
    text = check_epc_hex(epc, f"job {seq}")
    size = len(text) // 2
    fh = FH_INDICATOR
    return [
        "^RS8,,,1,N^FS",
        f"^RFW,H,,,A^FD{text}^FS",
        f"^FN{READ_FIELD}^RFR,H,2,{size},1^FS",
        f"^FH{fh}^HV{READ_FIELD},{2 * size},{READBACK_HEADER}{seq} epc=,{fh}0D{fh}0A,L^FS",
    ]


def readback_line(seq: int, epc: str) -> bytes:
    """What the printer sends for one label (device side): header, the read field, CR LF."""
    if epc and not _HEX.fullmatch(epc.upper()):
        raise ValueError(f"read-back {epc!r} is not hex")
    return f"{READBACK_HEADER}{seq} epc={epc.upper()}\r\n".encode("ascii")


def parse_readback(line: bytes) -> ReadBack:
    """A read-back line (CR LF included); ValueError naming what is wrong."""
    match = _READBACK.fullmatch(line)
    if match is None:
        raise ValueError(f"not an RFID read-back line: {line[:80]!r}")
    return ReadBack(int(match.group(1)), match.group(2).decode("ascii").upper())


class RfidParts:
    """Collects the RFID commands of one format while :func:`drivers.zpl.labelformat.parse_label`
    walks it; :meth:`result` is the :class:`RfidFormat` (None when there were none)."""

    def __init__(self) -> None:
        self.seen = False
        self.write: str | None = None
        self.adjust_pc = False
        self.read_field: int | None = None
        self.read_bytes = 0
        self.verify: HostVerify | None = None
        self.tries = 3
        self.on_error = "N"
        self._op: str | None = None  # the ^RF operation waiting for its ^FS
        self._bank = ""
        self._field: int | None = None  # the last ^FN number

    def setup(self, params: str, at: int) -> None:
        """``^RSt,p,v,n,e,...``: keep n (labels tried) and e (error handling)."""
        self.seen = True
        parts = params.split(",")
        if len(parts) > 3 and parts[3].strip():
            if not parts[3].strip().isdigit() or not 1 <= int(parts[3]) <= 10:
                raise ValueError(f"^RS at offset {at}: labels tried must be 1 to 10")
            self.tries = int(parts[3])
        if len(parts) > 4 and parts[4].strip():
            self.on_error = parts[4].strip().upper()[:1]

    def field_number(self, params: str) -> None:
        """``^FN#``: the field a following ``^RFR`` reads into."""
        digits = params.strip()
        self._field = int(digits) if digits.isdigit() else 0

    def operation(self, params: str, at: int) -> None:
        """``^RFo,f,b,n,m``: a write or read of the EPC bank (hex only)."""
        self.seen = True
        parts = [p.strip().upper() for p in params.split(",")] + [""] * 5
        op, form, _start, count, bank = parts[:5]
        op = op or "W"
        if op not in ("W", "R"):
            raise ValueError(f"^RF at offset {at}: operation {op!r} not supported (W or R)")
        if (form or "H") != "H":
            raise ValueError(f"^RF at offset {at}: only hex format (H) is supported")
        self._op, self._bank = op, bank or "E"
        if op == "R":
            if not count.isdigit() or not 1 <= int(count) <= MAX_EPC_BYTES:
                raise ValueError(f"^RFR at offset {at}: byte count {count!r} not 1-{MAX_EPC_BYTES}")
            self.read_field = self._field if self._field is not None else 0
            self.read_bytes = int(count)

    def host_verify(self, params: str, hex_indicator: str | None, at: int) -> None:
        """``^HV#,n,h,t,a``."""
        parts = params.split(",")
        parts += [""] * (5 - len(parts))
        number, length, header, terminator, applies = (p for p in parts[:5])
        if hex_indicator:
            header = decode_field_hex(header, hex_indicator)
            terminator = decode_field_hex(terminator, hex_indicator)
        if not number.strip().isdigit():
            raise ValueError(f"^HV at offset {at}: field number {number!r} is not a number")
        size = int(length) if length.strip().isdigit() else 64
        self.verify = HostVerify(
            int(number), size, header, terminator, applies.strip().upper() == "L"
        )

    def field_end(self, data: str | None, at: int) -> bool:
        """``^FS``: the data of a pending ``^RFW`` is the EPC; True when the field was RFID's."""
        op, self._op = self._op, None
        if op is None:
            return False
        if op == "W":
            if data is None:
                raise ValueError(f"^RFW at offset {at}: no ^FD data to write")
            self.write = check_epc_hex(data, f"^RFW at offset {at}")
            self.adjust_pc = self._bank == "A"
        return True

    def result(self) -> RfidFormat | None:
        if not self.seen:
            return None
        return RfidFormat(
            write=self.write,
            adjust_pc=self.adjust_pc,
            read_field=self.read_field,
            read_bytes=self.read_bytes,
            verify=self.verify,
            tries=self.tries,
            on_error=self.on_error,
        )
