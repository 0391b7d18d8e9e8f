"""The LLRP messages a fixed reader station needs, built and read for both sides.

Host -> reader: SET_READER_CONFIG (ROSpec events on), DELETE/ADD/ENABLE/START ROSPEC, DELETE/ADD/
ENABLE ACCESSSPEC (a C1G2Read of the TID bank), KEEPALIVE_ACK, CLOSE_CONNECTION. Reader -> host:
the responses (LLRPStatus), READER_EVENT_NOTIFICATION (ConnectionAttemptEvent, ROSpecEvent),
RO_ACCESS_REPORT (TagReportData: EPC, ROSpecID, AntennaID, PeakRSSI, TagSeenCount, first seen,
C1G2ReadOpSpecResult), KEEPALIVE, ERROR_MESSAGE. Field layouts: LLRP 1.0.1 sections 16.2.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from drivers.llrp.codec import FixedFields, Message, Param, parse_params, tlv, tv
from drivers.llrp.codec import MessageType as M
from drivers.llrp.codec import ParamType as P

PROTOCOL_EPC_C1G2 = 1  # AirProtocols: EPCGlobalClass1Gen2
EVENT_ROSPEC = 2  # EventNotificationState EventType: ROSpec event
ROSPEC_START, ROSPEC_END = 0, 1  # ROSpecEvent EventType
REPORT_END_OF_ROSPEC = 2  # ROReportTrigger: Upon_N_Tags_Or_End_Of_ROSpec
STOP_DURATION = 1  # ROSpecStopTrigger / AISpecStopTrigger type: duration
BANK_TID = 2  # C1G2 memory bank
STATUS_SUCCESS = 0  # LLRPStatus M_Success
CONNECTION_SUCCESS = 0  # ConnectionAttemptEvent Status: Success
CONNECTION_EXISTS = 2  # Failed_a_Client_initiated_connection_already_exists
CONNECTION_ATTEMPTED = 4  # Another_connection_attempted (told to the client that stays)


FIXED: FixedFields = {
    P.ROSPEC: 6, P.RO_BOUNDARY_SPEC: 0, P.ROSPEC_START_TRIGGER: 1, P.ROSPEC_STOP_TRIGGER: 5,
    P.AISPEC: lambda b: 2 + 2 * int.from_bytes(b[:2], "big"), P.AISPEC_STOP_TRIGGER: 5,
    P.INVENTORY_PARAMETER_SPEC: 3, P.RO_REPORT_SPEC: 3, P.TAG_REPORT_CONTENT_SELECTOR: 2,
    P.TAG_REPORT_DATA: 0, P.READER_EVENT_NOTIFICATION_SPEC: 0, P.READER_EVENT_NOTIFICATION_DATA: 0,
    P.LLRP_STATUS: lambda b: 4 + int.from_bytes(b[2:4], "big"), P.ACCESS_SPEC: 12,
    P.ACCESS_COMMAND: 0, P.C1G2_TAG_SPEC: 0,
}  # fmt: skip


class MessageError(ValueError):
    """A message whose parameters are not what its type requires."""


R = TypeVar("R")


def _checked(parse: Callable[[Message], R]) -> Callable[[Message], R]:
    """``parse``, with a field too short for its layout reported as a MessageError."""

    @functools.wraps(parse)
    def checked(message: Message) -> R:
        try:
            return parse(message)
        except struct.error as exc:
            raise MessageError(f"LLRP message type {message.kind}: {exc}") from exc

    return checked


def params(message: Message, skip: int = 0) -> tuple[Param, ...]:
    """The parameters of ``message`` after ``skip`` bytes of its own fields."""
    try:
        return parse_params(message.body[skip:], FIXED)
    except ValueError as exc:
        raise MessageError(f"LLRP message type {message.kind}: {exc}") from exc


# --- what the host asks ------------------------------------------------------------------------


@dataclass(frozen=True)
class InventorySpec:
    """One inventory per START_ROSPEC: which antennas (empty: all), for how long."""

    rospec_id: int
    antennas: tuple[int, ...] = ()
    duration_ms: int = 100


@dataclass(frozen=True)
class TidReadSpec:
    """An AccessSpec reading ``words`` 16-bit words of the TID bank from every tag."""

    access_spec_id: int
    rospec_id: int
    words: int = 6
    op_spec_id: int = 1


def set_reader_config_rospec_events(message_id: int) -> Message:
    state = tlv(P.EVENT_NOTIFICATION_STATE, struct.pack(">HB", EVENT_ROSPEC, 0x80))
    body = b"\x00" + tlv(P.READER_EVENT_NOTIFICATION_SPEC, b"", state)
    return Message(M.SET_READER_CONFIG, message_id, body)


def spec_id_message(kind: int, message_id: int, spec_id: int) -> Message:
    """DELETE/ENABLE/START/STOP ROSPEC and DELETE/ENABLE ACCESSSPEC: just the spec id (0: all)."""
    return Message(kind, message_id, struct.pack(">I", spec_id))


@_checked
def spec_id_of(message: Message) -> int:
    if len(message.body) < 4:
        raise MessageError(f"LLRP message type {message.kind}: no spec id")
    return int(struct.unpack_from(">I", message.body)[0])


def add_rospec(message_id: int, spec: InventorySpec) -> Message:
    antennas = spec.antennas or (0,)
    boundary = tlv(
        P.RO_BOUNDARY_SPEC, b"",
        tlv(P.ROSPEC_START_TRIGGER, b"\x00"),  # null: START_ROSPEC starts it
        tlv(P.ROSPEC_STOP_TRIGGER, struct.pack(">BI", 0, 0)),  # null: ends with its AISpec
    )  # fmt: skip
    aispec = tlv(
        P.AISPEC,
        struct.pack(f">H{len(antennas)}H", len(antennas), *antennas),
        tlv(P.AISPEC_STOP_TRIGGER, struct.pack(">BI", STOP_DURATION, spec.duration_ms)),
        tlv(P.INVENTORY_PARAMETER_SPEC, struct.pack(">HB", 1, PROTOCOL_EPC_C1G2)),
    )
    # ROSpecID, AntennaID, PeakRSSI, FirstSeenTimestamp, TagSeenCount
    selector = tlv(P.TAG_REPORT_CONTENT_SELECTOR, struct.pack(">H", 0x9680))
    report = tlv(P.RO_REPORT_SPEC, struct.pack(">BH", REPORT_END_OF_ROSPEC, 0), selector)
    rospec = tlv(P.ROSPEC, struct.pack(">IBB", spec.rospec_id, 0, 0), boundary, aispec, report)
    return Message(M.ADD_ROSPEC, message_id, rospec)


@_checked
def parse_add_rospec(message: Message) -> InventorySpec:
    """The reader's reading of ADD_ROSPEC (what the simulator needs of it)."""
    rospec = next((p for p in params(message) if p.kind == P.ROSPEC), None)
    aispec = rospec.find(P.AISPEC) if rospec else None
    stop = aispec.find(P.AISPEC_STOP_TRIGGER) if aispec else None
    if rospec is None or aispec is None or stop is None or len(rospec.value) < 4:
        raise MessageError("ADD_ROSPEC: needs an ROSpec with an AISpec and its stop trigger")
    (count,) = struct.unpack_from(">H", aispec.value)
    antennas = struct.unpack_from(f">{count}H", aispec.value, 2)
    kind, duration = struct.unpack_from(">BI", stop.value)
    (rospec_id,) = struct.unpack_from(">I", rospec.value)
    return InventorySpec(
        rospec_id,
        () if antennas == (0,) else tuple(antennas),
        duration if kind == STOP_DURATION else 0,
    )


def add_accessspec_tid(message_id: int, spec: TidReadSpec) -> Message:
    target = tlv(P.C1G2_TARGET_TAG, struct.pack(">BHHH", 1 << 6 | 1 << 5, 0, 0, 0))  # any tag
    read = tlv(P.C1G2_READ, struct.pack(">HIBHH", spec.op_spec_id, 0, BANK_TID << 6, 0, spec.words))
    command = tlv(P.ACCESS_COMMAND, b"", tlv(P.C1G2_TAG_SPEC, b"", target), read)
    stop = tlv(P.ACCESS_SPEC_STOP_TRIGGER, struct.pack(">BH", 0, 0))  # null: until deleted
    fields = struct.pack(">IHBBI", spec.access_spec_id, 0, PROTOCOL_EPC_C1G2, 0, spec.rospec_id)
    return Message(M.ADD_ACCESSSPEC, message_id, tlv(P.ACCESS_SPEC, fields, stop, command))


@_checked
def parse_add_accessspec(message: Message) -> TidReadSpec:
    spec = next((p for p in params(message) if p.kind == P.ACCESS_SPEC), None)
    command = spec.find(P.ACCESS_COMMAND) if spec else None
    read = command.find(P.C1G2_READ) if command else None
    if spec is None or read is None or len(read.value) < 11 or len(spec.value) < 12:
        raise MessageError("ADD_ACCESSSPEC: needs an AccessSpec with a C1G2Read")
    op_spec_id, _, bank, _, words = struct.unpack_from(">HIBHH", read.value)
    if bank >> 6 != BANK_TID:
        raise MessageError(f"ADD_ACCESSSPEC: reads bank {bank >> 6}; this reader reads TID only")
    access_id, _, _, _, rospec_id = struct.unpack_from(">IHBBI", spec.value)
    return TidReadSpec(access_id, rospec_id, words, op_spec_id)


# --- what the reader answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class LlrpStatus:
    """LLRPStatus: 0 is success; anything else names what the reader refused."""

    code: int
    description: str = ""


def status_response(kind: int, message_id: int, code: int = 0, description: str = "") -> Message:
    text = description.encode()
    return Message(kind, message_id, tlv(P.LLRP_STATUS, struct.pack(">HH", code, len(text)) + text))


@_checked
def parse_status(message: Message) -> LlrpStatus:
    status = next((p for p in params(message) if p.kind == P.LLRP_STATUS), None)
    if status is None or len(status.value) < 4:
        raise MessageError(f"LLRP message type {message.kind}: no LLRPStatus")
    code, length = struct.unpack_from(">HH", status.value)
    return LlrpStatus(code, status.value[4 : 4 + length].decode(errors="replace"))


@dataclass(frozen=True)
class ReaderEvent:
    """What a READER_EVENT_NOTIFICATION says (the parts this driver uses)."""

    connection_status: int | None = None
    rospec_event: tuple[int, int] | None = None  # (event type, ROSpecID)


def reader_event(message_id: int, timestamp_us: int, event: ReaderEvent) -> Message:
    parts = [tlv(P.UTC_TIMESTAMP, struct.pack(">Q", timestamp_us))]
    if event.connection_status is not None:
        parts.append(tlv(P.CONNECTION_ATTEMPT_EVENT, struct.pack(">H", event.connection_status)))
    if event.rospec_event is not None:
        kind, rospec_id = event.rospec_event
        parts.append(tlv(P.ROSPEC_EVENT, struct.pack(">BII", kind, rospec_id, 0)))
    data = tlv(P.READER_EVENT_NOTIFICATION_DATA, b"", *parts)
    return Message(M.READER_EVENT_NOTIFICATION, message_id, data)


@_checked
def parse_reader_event(message: Message) -> ReaderEvent:
    data = next((p for p in params(message) if p.kind == P.READER_EVENT_NOTIFICATION_DATA), None)
    if data is None:
        raise MessageError("READER_EVENT_NOTIFICATION: no ReaderEventNotificationData")
    connection = data.find(P.CONNECTION_ATTEMPT_EVENT)
    rospec = data.find(P.ROSPEC_EVENT)
    return ReaderEvent(
        struct.unpack_from(">H", connection.value)[0] if connection else None,
        struct.unpack_from(">BI", rospec.value) if rospec and len(rospec.value) >= 5 else None,
    )


@dataclass(frozen=True)
class TagReport:
    """One TagReportData: the EPC bank contents and what the reader adds to it."""

    epc: bytes
    antenna: int | None = None
    peak_rssi: int | None = None  # dBm
    seen_count: int | None = None
    rospec_id: int | None = None
    first_seen_us: int | None = None
    tid: bytes | None = None  # the TID words read by the AccessSpec, when the read succeeded


def ro_access_report(message_id: int, tags: list[TagReport], op_spec_id: int = 1) -> Message:
    items = []
    for tag in tags:
        if len(tag.epc) == 12:
            parts = [tv(P.EPC_96, tag.epc)]
        else:
            parts = [tlv(P.EPC_DATA, struct.pack(">H", len(tag.epc) * 8) + tag.epc)]
        if tag.rospec_id is not None:
            parts.append(tv(P.ROSPEC_ID, struct.pack(">I", tag.rospec_id)))
        if tag.antenna is not None:
            parts.append(tv(P.ANTENNA_ID, struct.pack(">H", tag.antenna)))
        if tag.peak_rssi is not None:
            parts.append(tv(P.PEAK_RSSI, struct.pack(">b", tag.peak_rssi)))
        if tag.first_seen_us is not None:
            parts.append(tv(P.FIRST_SEEN_UTC, struct.pack(">Q", tag.first_seen_us)))
        if tag.seen_count is not None:
            parts.append(tv(P.TAG_SEEN_COUNT, struct.pack(">H", tag.seen_count)))
        if tag.tid is not None:
            words = len(tag.tid) // 2
            result = struct.pack(">BHH", 0, op_spec_id, words) + tag.tid
            parts.append(tlv(P.C1G2_READ_OP_SPEC_RESULT, result))
        items.append(tlv(P.TAG_REPORT_DATA, b"", *parts))
    return Message(M.RO_ACCESS_REPORT, message_id, b"".join(items))


def _tv_int(param: Param | None, fmt: str) -> int | None:
    return None if param is None else int(struct.unpack(fmt, param.value)[0])


@_checked
def parse_ro_access_report(message: Message) -> list[TagReport]:
    tags = []
    for data in (p for p in params(message) if p.kind == P.TAG_REPORT_DATA):
        epc96 = data.find(P.EPC_96)
        epc_data = data.find(P.EPC_DATA)
        if epc96 is not None:
            epc = epc96.value
        elif epc_data is not None and len(epc_data.value) >= 2:
            (bits,) = struct.unpack_from(">H", epc_data.value)
            epc = epc_data.value[2 : 2 + (bits + 7) // 8]
        else:
            raise MessageError("RO_ACCESS_REPORT: TagReportData without EPC")
        tid = None
        for result in data.find_all(P.C1G2_READ_OP_SPEC_RESULT):
            code, _, words = struct.unpack_from(">BHH", result.value)
            if code == 0:
                tid = result.value[5 : 5 + 2 * words]
        tags.append(
            TagReport(
                epc,
                _tv_int(data.find(P.ANTENNA_ID), ">H"),
                _tv_int(data.find(P.PEAK_RSSI), ">b"),
                _tv_int(data.find(P.TAG_SEEN_COUNT), ">H"),
                _tv_int(data.find(P.ROSPEC_ID), ">I"),
                _tv_int(data.find(P.FIRST_SEEN_UTC), ">Q"),
                tid,
            )
        )
    return tags
