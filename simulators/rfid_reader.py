"""A fixed UHF RFID reader on LLRP over TCP, with seeded tag faults: the reader station's double.

It answers what linectl's LLRP driver sends (drivers.llrp.messages), as a reader does: one client
at a time (a second one gets a ConnectionAttemptEvent refusal and is closed), ROSpecs and
AccessSpecs kept by the reader across connections, START_ROSPEC refused unless the ROSpec is
enabled, the inventory taking the ROSpec's AISpec duration, then an RO_ACCESS_REPORT of the tags
seen (none: no report) and, when ROSpec events are on, the ROSpecEvent end.

What is in the antenna field comes from ``field`` (trigger number -> tags), so the line wiring can
hand it the tag of the pack at the station; alone it makes SGTIN-96 tags of consecutive serials.
Faults, chosen per trigger from ``rates`` with a seeded draw (:func:`fault_for`), or forced with
:meth:`RfidReaderSimulator.inject`:

* ``no-read``: no tag reported;
* ``weak-tag``: the tag is reported with a peak RSSI of WEAK_RSSI_DBM;
* ``wrong-epc``: the tag reports an EPC whose last bit differs from what it should hold;
* ``duplicate-tag``: a second tag (its own TID) reports the same EPC.

Alone: ``python -m simulators rfid --port 5084 --gtin 09506000134352 --no-read-rate 0.02``.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from drivers.llrp import messages as msg
from drivers.llrp.codec import LlrpStream, Message
from drivers.llrp.codec import MessageType as M
from drivers.sansio import drain
from simulators.line import Pack, Station, VirtualLine
from simulators.tcp_service import TcpDevice, TcpService
from standards.epc.binary import sgtin_epc

log = logging.getLogger("simulators.rfid")

DEFAULT_PORT = 5084
WEAK_RSSI_DBM = -82
STATUS_INVALID = 400  # LLRPStatus A_Invalid


_RESPONSES = {
    M.SET_READER_CONFIG: M.SET_READER_CONFIG_RESPONSE,
    M.ADD_ROSPEC: M.ADD_ROSPEC_RESPONSE, M.DELETE_ROSPEC: M.DELETE_ROSPEC_RESPONSE,
    M.ENABLE_ROSPEC: M.ENABLE_ROSPEC_RESPONSE, M.START_ROSPEC: M.START_ROSPEC_RESPONSE,
    M.ADD_ACCESSSPEC: M.ADD_ACCESSSPEC_RESPONSE, M.DELETE_ACCESSSPEC: M.DELETE_ACCESSSPEC_RESPONSE,
    M.ENABLE_ACCESSSPEC: M.ENABLE_ACCESSSPEC_RESPONSE,
    M.CLOSE_CONNECTION: M.CLOSE_CONNECTION_RESPONSE,
}  # fmt: skip


class TagFault(enum.StrEnum):
    """What can go wrong with the tag of one trigger."""

    NO_READ = "no-read"
    WEAK = "weak-tag"
    WRONG_EPC = "wrong-epc"
    DUPLICATE = "duplicate-tag"


@dataclass(frozen=True)
class SimTag:
    """A tag in the reader's field: EPC bank, TID bank, where and how strongly it answers."""

    epc: bytes
    tid: bytes
    rssi_dbm: int = -50
    antenna: int = 1


@dataclass(frozen=True)
class TagFaultRates:
    """Per-trigger probabilities of each fault (their sum at most 1)."""

    no_read: float = 0.0
    weak: float = 0.0
    wrong_epc: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        values = (self.no_read, self.weak, self.wrong_epc, self.duplicate)
        if any(not 0.0 <= v <= 1.0 for v in values) or sum(values) > 1.0:
            raise ValueError(f"tag fault rates must be 0..1 and sum to at most 1: {values}")


def tid_for(epc: bytes, copy: int = 0) -> bytes:
    """A stable 96-bit TID (class E2, a made-up maker and model, a serial drawn from the EPC)."""
    return bytes.fromhex("E2801160") + hashlib.sha256(epc + bytes([copy])).digest()[:8]


def fault_for(seed: int, trigger: int, rates: TagFaultRates) -> TagFault | None:
    """The fault of trigger ``trigger`` (seeded, so a run is reproducible)."""
    draw = random.Random(f"rfid:{seed}:{trigger}").random()
    for fault, rate in (
        (TagFault.NO_READ, rates.no_read),
        (TagFault.WEAK, rates.weak),
        (TagFault.WRONG_EPC, rates.wrong_epc),
        (TagFault.DUPLICATE, rates.duplicate),
    ):
        if draw < rate:
            return fault
        draw -= rate
    return None


def apply_fault(tags: list[SimTag], fault: TagFault | None) -> list[SimTag]:
    """What the reader sees of ``tags`` under ``fault``."""
    if fault is TagFault.NO_READ:
        return []
    if fault is TagFault.WEAK:
        return [replace(t, rssi_dbm=WEAK_RSSI_DBM) for t in tags]
    if fault is TagFault.WRONG_EPC:
        return [replace(t, epc=t.epc[:-1] + bytes([t.epc[-1] ^ 1])) for t in tags]
    if fault is TagFault.DUPLICATE:
        return tags + [replace(t, tid=tid_for(t.epc, 1), rssi_dbm=t.rssi_dbm - 6) for t in tags]
    return list(tags)


TagField = Callable[[int], list[SimTag]]


def sgtin_field(gtin: str, company_prefix_length: int, first_serial: int = 1) -> TagField:
    """A field holding one SGTIN-96 tag per trigger: serial ``first_serial + trigger``."""

    def tags(trigger: int) -> list[SimTag]:
        epc = sgtin_epc(gtin, str(first_serial + trigger), company_prefix_length).encode()
        return [SimTag(epc, tid_for(epc), -45 - trigger % 7, 1 + trigger % 2)]

    return tags


def pack_field(
    line: VirtualLine, station: Station, tags_of: Callable[[Pack], list[SimTag]]
) -> TagField:
    """A field holding the tags of the pack at ``station`` of ``line`` (none: an empty field);
    ``tags_of`` says what a pack carries (the printer's RFID inlay, once the printer writes it)."""

    def tags(trigger: int) -> list[SimTag]:
        pack = line.pack_at(station)
        return [] if pack is None else tags_of(pack)

    return tags


@dataclass
class Trigger:
    """Ground truth of one inventory: what was in the field, the fault, what was reported."""

    number: int
    fault: TagFault | None
    in_field: list[SimTag]
    reported: list[SimTag]


@dataclass
class _Specs:
    rospecs: dict[int, tuple[msg.InventorySpec, bool]] = field(default_factory=dict)
    access: dict[int, tuple[msg.TidReadSpec, bool]] = field(default_factory=dict)
    rospec_events: bool = False


class RfidReaderSimulator(TcpDevice):
    """LLRP reader on ``host:port`` (port 0: any free one; see ``port`` after ``start``)."""

    def __init__(
        self,
        tag_field: TagField,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        rates: TagFaultRates | None = None,
    ) -> None:
        self.tag_field = tag_field
        self.seed = seed
        self.rates = rates or TagFaultRates()
        self.triggers: list[Trigger] = []
        self._forced: list[TagFault | None] = []
        self._specs = _Specs()
        self._client: asyncio.StreamWriter | None = None
        self._free = asyncio.Event()
        self._free.set()
        self._ids = 0
        self.service = TcpService("llrp reader", self._session, host, port)

    async def drop_all(self) -> None:
        await self.service.drop_all()

    def inject(self, *faults: TagFault | None) -> None:
        """Force the fault (None: none) of the next triggers, one each, before the seeded ones."""
        self._forced += faults

    def _next_id(self) -> int:
        self._ids = self._ids % (2**32 - 1) + 1
        return self._ids

    # --- the connection -------------------------------------------------------------------------

    async def _send(self, writer: asyncio.StreamWriter, message: Message) -> None:
        writer.write(message.encode())
        await writer.drain()

    def _event(self, event: msg.ReaderEvent) -> Message:
        now_us = time.time_ns() // 1000
        return msg.reader_event(self._next_id(), now_us, event)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._client is not None:
            await self._send(writer, self._event(msg.ReaderEvent(msg.CONNECTION_EXISTS)))
            await self._send(self._client, self._event(msg.ReaderEvent(msg.CONNECTION_ATTEMPTED)))
            return  # TcpService closes it
        self._client = writer
        self._free.clear()
        try:
            await self._send(writer, self._event(msg.ReaderEvent(msg.CONNECTION_SUCCESS)))
            stream = LlrpStream()
            while data := await reader.read(4096):
                stream.receive_data(data)
                for message in drain(stream):
                    if not await self._answer(writer, message):
                        return
        finally:
            self._client = None
            self._free.set()

    async def wait_no_client(self) -> None:
        """Until the reader has noticed that its client went (a closed TCP connection)."""
        await self._free.wait()

    async def _answer(self, writer: asyncio.StreamWriter, message: Message) -> bool:
        """Answer one message; False when the connection is to close."""
        response = _RESPONSES.get(message.kind)
        if response is None:
            return True  # KEEPALIVE_ACK and what a reader does not take from a client
        try:
            code, text = self._apply(message)
        except msg.MessageError as exc:
            code, text = STATUS_INVALID, str(exc)
        await self._send(writer, msg.status_response(response, message.message_id, code, text))
        if message.kind == M.START_ROSPEC and code == msg.STATUS_SUCCESS:
            await self._inventory(writer, self._specs.rospecs[msg.spec_id_of(message)][0])
        return message.kind != M.CLOSE_CONNECTION

    def _apply(self, message: Message) -> tuple[int, str]:
        """Change the reader's specs as ``message`` asks; the LLRPStatus code and text."""
        kind, specs = message.kind, self._specs
        if kind == M.SET_READER_CONFIG:
            specs.rospec_events = _asks_rospec_events(message)
        elif kind == M.ADD_ROSPEC:
            spec = msg.parse_add_rospec(message)
            if spec.rospec_id in specs.rospecs or spec.rospec_id == 0:
                return STATUS_INVALID, f"ROSpec {spec.rospec_id} exists or is 0"
            specs.rospecs[spec.rospec_id] = (spec, False)
        elif kind == M.ADD_ACCESSSPEC:
            access = msg.parse_add_accessspec(message)
            specs.access[access.access_spec_id] = (access, False)
        elif kind == M.START_ROSPEC:
            entry = specs.rospecs.get(msg.spec_id_of(message))
            if entry is None or not entry[1]:
                return STATUS_INVALID, f"ROSpec {msg.spec_id_of(message)} is not enabled"
        elif kind in (M.DELETE_ROSPEC, M.ENABLE_ROSPEC):
            return _by_id(specs.rospecs, msg.spec_id_of(message), kind == M.DELETE_ROSPEC)
        elif kind in (M.DELETE_ACCESSSPEC, M.ENABLE_ACCESSSPEC):
            return _by_id(specs.access, msg.spec_id_of(message), kind == M.DELETE_ACCESSSPEC)
        return msg.STATUS_SUCCESS, ""

    async def _inventory(self, writer: asyncio.StreamWriter, spec: msg.InventorySpec) -> None:
        number = len(self.triggers)
        fault = self._forced.pop(0) if self._forced else fault_for(self.seed, number, self.rates)
        in_field = [
            t for t in self.tag_field(number) if not spec.antennas or t.antenna in spec.antennas
        ]
        seen = apply_fault(in_field, fault)
        self.triggers.append(Trigger(number, fault, in_field, seen))
        if self._specs.rospec_events:
            await self._send(
                writer, self._event(msg.ReaderEvent(None, (msg.ROSPEC_START, spec.rospec_id)))
            )
        await asyncio.sleep(spec.duration_ms / 1000)
        read_tid = any(enabled and a.rospec_id in (0, spec.rospec_id)
                       for a, enabled in self._specs.access.values())  # fmt: skip
        if seen:
            now_us = time.time_ns() // 1000
            reports = [
                msg.TagReport(t.epc, t.antenna, t.rssi_dbm, 3, spec.rospec_id, now_us,
                              t.tid if read_tid else None)
                for t in seen
            ]  # fmt: skip
            await self._send(writer, msg.ro_access_report(self._next_id(), reports))
        if self._specs.rospec_events:
            await self._send(
                writer, self._event(msg.ReaderEvent(None, (msg.ROSPEC_END, spec.rospec_id)))
            )


S = TypeVar("S")


def _by_id(table: dict[int, tuple[S, bool]], spec_id: int, delete: bool) -> tuple[int, str]:
    """Delete or enable spec ``spec_id`` (0: all of them) in ``table``."""
    if spec_id != 0 and spec_id not in table:
        return STATUS_INVALID, f"no spec {spec_id}"
    for i in list(table) if spec_id == 0 else [spec_id]:
        if delete:
            del table[i]
        else:
            table[i] = (table[i][0], True)
    return msg.STATUS_SUCCESS, ""


def _asks_rospec_events(message: Message) -> bool:
    """Whether SET_READER_CONFIG turns ROSpec event notifications on."""
    enabled = False
    for spec in msg.params(message, 1):
        for state in spec.children:
            if len(state.value) >= 3 and int.from_bytes(state.value[:2], "big") == msg.EVENT_ROSPEC:
                enabled = bool(state.value[2] & 0x80)
    return enabled


# --- stand-alone -------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options of the stand-alone LLRP reader simulator."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)")
    p.add_argument("--seed", type=int, default=0, help="seed for the tag faults")
    p.add_argument("--gtin", default="09506000134352", help="GTIN of the tags in the field")
    p.add_argument("--company-prefix-length", type=int, default=7)
    p.add_argument("--first-serial", type=int, default=1)
    p.add_argument("--no-read-rate", type=float, default=0.0)
    p.add_argument("--weak-rate", type=float, default=0.0)
    p.add_argument("--wrong-epc-rate", type=float, default=0.0)
    p.add_argument("--duplicate-rate", type=float, default=0.0)


async def serve(args: argparse.Namespace, *, started: Callable[[int], None] | None = None) -> None:
    """Run the reader with its own field of SGTIN-96 tags until cancelled."""
    rates = TagFaultRates(
        args.no_read_rate, args.weak_rate, args.wrong_epc_rate, args.duplicate_rate
    )
    tags = sgtin_field(args.gtin, args.company_prefix_length, args.first_serial)
    sim = RfidReaderSimulator(tags, args.host, args.port, seed=args.seed, rates=rates)
    port = await sim.start()
    if started is not None:
        started(port)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()
