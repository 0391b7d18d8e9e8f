"""The ``~HS`` host status reply: three STX..ETX CR LF strings, parsed into typed fields.

Layout per the ZPL II Programming Guide (45541L-004, ``~HS``; same on docs.zebra.com)::

    String 1  <STX>aaa,b,c,dddd,eee,f,g,h,iii,j,k,l<ETX><CR><LF>
      aaa communication settings, b paper out, c pause, dddd label length (dots),
      eee formats in receive buffer, f buffer full, g comms diagnostic mode,
      h partial format, iii unused (000), j corrupt RAM, k under temperature, l over temperature
    String 2  <STX>mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www<ETX><CR><LF>
      mmm function settings, n unused, o head up, p ribbon out, q thermal transfer mode,
      r print mode (0 rewind, 1 peel-off, 2 tear-off, 3 cutter, 4 applicator, 5 delayed cut),
      s print width mode, t label waiting, uuuuuuuu labels remaining in batch,
      v format while printing (always 1), www graphic images stored
    String 3  <STX>xxxx,y<ETX><CR><LF>
      xxxx password, y static RAM installed

Newer firmware sends no ~HS reply at all while in MEDIA OUT, RIBBON OUT, HEAD OPEN, REWINDER
FULL or HEAD OVER-TEMPERATURE (docs.zebra.com, ~HS); the client treats silence as unavailable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

STX = 0x02
ETX = 0x03
FIELD_COUNTS = (12, 11, 2)  # fields in string 1, 2, 3: how a string's place is recognised


@dataclass(frozen=True, slots=True)
class HostStatus:
    """All fields of a ``~HS`` reply; ``faults`` and ``ready`` summarise them."""

    # string 1
    comm_settings: int = 0
    paper_out: bool = False
    paused: bool = False
    label_length_dots: int = 0
    formats_in_buffer: int = 0
    buffer_full: bool = False
    comm_diagnostic_mode: bool = False
    partial_format: bool = False
    corrupt_ram: bool = False
    under_temperature: bool = False
    over_temperature: bool = False
    # string 2
    function_settings: int = 0
    head_up: bool = False
    ribbon_out: bool = False
    thermal_transfer: bool = False
    print_mode: int = 0
    print_width_mode: int = 0
    label_waiting: bool = False
    labels_remaining: int = 0
    format_while_printing: bool = True
    graphics_stored: int = 0
    # string 3
    password: int = 0
    static_ram_installed: bool = False

    @property
    def faults(self) -> tuple[str, ...]:
        """Conditions that stop printing, as stable names."""
        flags = (
            (self.paper_out, "paper-out"),
            (self.paused, "paused"),
            (self.head_up, "head-open"),
            (self.ribbon_out, "ribbon-out"),
            (self.buffer_full, "buffer-full"),
            (self.corrupt_ram, "corrupt-ram"),
            (self.under_temperature, "under-temperature"),
            (self.over_temperature, "over-temperature"),
        )
        return tuple(name for on, name in flags if on)

    @property
    def ready(self) -> bool:
        return not self.faults


def _flag(value: int, index: int, line: int) -> bool:
    if value not in (0, 1):
        raise ValueError(f"~HS string {line} field {index + 1}: flag must be 0 or 1, got {value}")
    return value == 1


@functools.lru_cache(maxsize=64)
def parse_status_fields(strings: tuple[bytes, bytes, bytes]) -> HostStatus:
    """Build a HostStatus from the bodies (between STX and ETX) of the three strings.

    Raises ValueError naming the string and field that is malformed. Cached: a printer polled
    every 20 ms sends the same few replies over and over (HostStatus is immutable).
    """
    values: list[list[int]] = []
    for line, (body, expected) in enumerate(zip(strings, FIELD_COUNTS, strict=True), start=1):
        parts = body.split(b",")
        if len(parts) != expected:
            raise ValueError(f"~HS string {line}: expected {expected} fields, got {len(parts)}")
        row: list[int] = []
        for index, part in enumerate(parts):
            if not part or not part.isdigit() or len(part) > 10:
                raise ValueError(f"~HS string {line} field {index + 1}: not a number: {part!r}")
            row.append(int(part))
        values.append(row)
    s1, s2, s3 = values
    return HostStatus(
        comm_settings=s1[0],
        paper_out=_flag(s1[1], 1, 1),
        paused=_flag(s1[2], 2, 1),
        label_length_dots=s1[3],
        formats_in_buffer=s1[4],
        buffer_full=_flag(s1[5], 5, 1),
        comm_diagnostic_mode=_flag(s1[6], 6, 1),
        partial_format=_flag(s1[7], 7, 1),
        corrupt_ram=_flag(s1[9], 9, 1),
        under_temperature=_flag(s1[10], 10, 1),
        over_temperature=_flag(s1[11], 11, 1),
        function_settings=s2[0],
        head_up=_flag(s2[2], 2, 2),
        ribbon_out=_flag(s2[3], 3, 2),
        thermal_transfer=_flag(s2[4], 4, 2),
        print_mode=s2[5],
        print_width_mode=s2[6],
        label_waiting=_flag(s2[7], 7, 2),
        labels_remaining=s2[8],
        format_while_printing=_flag(s2[9], 9, 2),
        graphics_stored=s2[10],
        password=s3[0],
        static_ram_installed=_flag(s3[1], 1, 3),
    )


def build_status_reply(status: HostStatus) -> bytes:
    """Encode ``status`` as the printer sends it (device side), zero-padded like real printers."""

    def b(flag: bool) -> str:
        return "1" if flag else "0"

    s = status
    line1 = (
        f"{s.comm_settings:03d},{b(s.paper_out)},{b(s.paused)},{s.label_length_dots:04d},"
        f"{s.formats_in_buffer:03d},{b(s.buffer_full)},{b(s.comm_diagnostic_mode)},"
        f"{b(s.partial_format)},000,{b(s.corrupt_ram)},{b(s.under_temperature)},"
        f"{b(s.over_temperature)}"
    )
    line2 = (
        f"{s.function_settings:03d},0,{b(s.head_up)},{b(s.ribbon_out)},{b(s.thermal_transfer)},"
        f"{s.print_mode},{s.print_width_mode},{b(s.label_waiting)},{s.labels_remaining:08d},"
        f"{b(s.format_while_printing)},{s.graphics_stored:03d}"
    )
    line3 = f"{s.password:04d},{b(s.static_ram_installed)}"
    return b"".join(b"\x02" + ln.encode("ascii") + b"\x03\r\n" for ln in (line1, line2, line3))
