"""The end of the simulated line: case packer, palletiser, case-label printer (ZPL) and reader.

:class:`CasePacker` is the ground truth of aggregation. Every pack that reaches
``Station.PACKER`` having passed the gate goes into the open case, in line order; at
``case_size`` packs the case closes. A case whose label the reader has read goes onto the open
pallet (in the order read); at ``pallet_size`` cases the pallet closes (0: no pallets).

Labels (print and apply): a label names its SSCC (AI 00), its level (linectl's ``^FX`` comment,
or the first text line) and its count (AI 37, units). It goes, in this order of preference:

1. onto the container that already carries that SSCC (a reprint, applied over the old label);
2. onto the oldest closed container of its level that has no label yet;
3. nowhere yet: it waits on the applicator until the open container of its level holds exactly
   as many units as the label counts, which then closes (a partial case or pallet at batch end)
   and takes it, or until a container of its level closes.

The printer's label counter counts labels applied, so the host's print confirmation means the
label is on its container. The reader sees the label of the container labelled last (the one
standing at the reader).

Case faults (``faults``: case number -> :class:`CaseFault`, applied as the case closes, the
slot drawn from the seeded generator): ``missing`` (a pack counted into the case is not in it:
its slot is empty), ``duplicate`` (a pack carries the code of another pack of the case instead
of its own), ``other-batch`` (a pack is swapped for one carrying ``foreign``, a code of another
batch). ``Box.codes`` stays what passed the gate in line order; ``Box.slots`` is what lies in
the case, as the case camera sees it (:mod:`simulators.case_camera`); ``on_case_closed``
callbacks hear every case that closes.

With ``log_path`` every physical fact is a JSON line: ``case`` (number, seqs, codes printed on
its packs, partial, and with a fault the fault and the slots), ``label`` (level, number, SSCC,
reprint), ``stack`` (case onto pallet), ``pallet`` (number, cases, partial). The demo
compares it with ``linectl contents``.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from drivers.reader_codec import CodeRead
from drivers.sansio import drain
from drivers.zpl.codec import (
    LABEL_COUNT_VAR,
    ControlCommand,
    HostStatusRequest,
    SgdCommand,
    SgdValue,
    ZplDeviceConnection,
)
from drivers.zpl.labelformat import Label
from drivers.zpl.status import HostStatus
from simulators.line import Pack, Station, VirtualLine
from simulators.marking import split_ais
from simulators.reader_dmcc import DmccReaderSimulator
from simulators.reader_keyence import KeyenceReaderSimulator
from simulators.smart_reader import ReaderServer
from simulators.tcp_service import TcpDevice, TcpService

log = logging.getLogger("simulators.case_packer")

CASE, PALLET = "case", "pallet"
_SSCC = re.compile(r"^00(\d{18})")
_SYMBOLOGY_IDS = {"datamatrix": "]d2", "gs1-128": "]C1"}


class CaseFault(enum.StrEnum):
    """What can be wrong inside a physical case (see the module docstring)."""

    MISSING = "missing"
    DUPLICATE = "duplicate"
    OTHER_BATCH = "other-batch"


@dataclass(frozen=True, slots=True)
class PrintedLabel:
    """What a case or pallet label carries, as the printer received it."""

    sscc: str
    level: str  # CASE or PALLET
    count: int | None  # AI 37: units in the container
    data: str  # the first code's element string (what a reader reports)
    symbology: str  # "datamatrix" or "gs1-128"


@dataclass
class Box:
    """A physical case or pallet and what happened to it."""

    level: str
    number: int
    seqs: list[int] = field(default_factory=list)  # packs in a case, in line order
    codes: list[str] = field(default_factory=list)  # what is printed on those packs
    cases: list[int] = field(default_factory=list)  # cases on a pallet, in stacking order
    units: int = 0
    closed: bool = False
    partial: bool = False
    label: PrintedLabel | None = None
    pallet: int | None = None  # the pallet a case is on
    slots: list[str | None] = field(default_factory=list)  # a closed case as it lies (top view)
    fault: CaseFault | None = None


def label_from_zpl(label: Label) -> PrintedLabel | None:
    """The SSCC label in a ZPL format; None when the format carries no SSCC (AI 00) code."""
    code = label.code
    if code is None:
        return None
    found = _SSCC.match(code.data)
    if found is None:
        return None
    level = CASE
    for comment in label.comments:
        if comment.startswith("linectl sscc=") and "level=pallet" in comment:
            level = PALLET
    if not label.comments and label.texts and label.texts[0].upper().startswith("PALLET"):
        level = PALLET
    count: int | None = None
    try:
        values = dict(split_ais(code.data))
    except ValueError:
        values = {}
    if values.get("37", "").isdigit():
        count = int(values["37"])
    symbology = "datamatrix" if code.kind == "datamatrix" else "gs1-128"
    return PrintedLabel(found.group(1), level, count, code.data, symbology)


class CasePacker:
    """Cases and pallets at the end of ``line`` (see the module docstring)."""

    def __init__(
        self,
        line: VirtualLine,
        case_size: int,
        pallet_size: int,
        *,
        log_path: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        if case_size < 1 or pallet_size < 0:
            raise ValueError(
                f"case_size must be >= 1 and pallet_size >= 0, got {case_size}, {pallet_size}"
            )
        self.line = line
        self.case_size = case_size
        self.pallet_size = pallet_size
        self.cases: list[Box] = []
        self.pallets: list[Box] = []
        self.waiting: deque[PrintedLabel] = deque()  # labels on the applicator
        self.applied = 0  # the printer's label counter
        self.last_labelled: Box | None = None
        self._log: IO[str] | None = (
            open(log_path, "a", encoding="utf-8") if log_path is not None else None  # noqa: SIM115
        )
        self._changed = asyncio.Event()
        self.seed = seed
        self.faults: dict[int, CaseFault] = {}
        self.foreign: str | None = None  # the code an other-batch fault puts into a case
        self.on_case_closed: list[Callable[[Box], None]] = []
        line.on(Station.PACKER, self.on_pack)

    # -- ground truth ----------------------------------------------------------------------------

    def box(self, level: str, number: int) -> Box:
        """Case or pallet ``number`` (1-based)."""
        return (self.cases if level == CASE else self.pallets)[number - 1]

    def by_sscc(self, sscc: str) -> Box | None:
        """The container carrying the label with this SSCC."""
        for box in self.cases + self.pallets:
            if box.label is not None and box.label.sscc == sscc:
                return box
        return None

    def codes_on_pallet(self, number: int) -> list[str]:
        """Everything printed on the packs of pallet ``number``, case by case."""
        return [
            code for case in self.box(PALLET, number).cases for code in self.box(CASE, case).codes
        ]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked after every change here."""
        while not predicate():
            await self._changed.wait()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- the packer ------------------------------------------------------------------------------

    def on_pack(self, pack: Pack) -> None:
        """Station handler: a pack that passed the gate goes into the open case."""
        if pack.rejected is not False:
            return
        case = self._open(CASE)
        case.seqs.append(pack.seq)
        case.codes.append(pack.printed or "")
        case.units += 1
        if case.units >= self.case_size:
            self._close(case, partial=False)
        self._settle()

    def _open(self, level: str) -> Box:
        boxes = self.cases if level == CASE else self.pallets
        if not boxes or boxes[-1].closed:
            boxes.append(Box(level, len(boxes) + 1))
        return boxes[-1]

    def _close(self, box: Box, *, partial: bool) -> None:
        box.closed, box.partial = True, partial
        if box.level == CASE:
            box.slots = list[str | None](box.codes)
            fault = self.faults.get(box.number)
            if fault is not None:
                self._spoil(box, fault)
            extra = {"fault": fault.value, "slots": box.slots} if fault is not None else {}
            self._write(
                "case", case=box.number, seqs=box.seqs, codes=box.codes, partial=partial, **extra
            )
            for heard in self.on_case_closed:
                heard(box)
        else:
            self._write("pallet", pallet=box.number, cases=box.cases, partial=partial)

    def _spoil(self, box: Box, fault: CaseFault) -> None:
        """Apply a case fault to the case's slots (one slot, drawn from the seeded generator)."""
        rng = random.Random(f"case-fault:{self.seed}:{box.number}")
        slot = rng.randrange(len(box.slots))
        if fault is CaseFault.MISSING:
            box.slots[slot] = None
        elif fault is CaseFault.DUPLICATE:
            if len(box.slots) < 2:
                raise ValueError(f"case {box.number}: a duplicate needs two packs in the case")
            other = (slot + 1 + rng.randrange(len(box.slots) - 1)) % len(box.slots)
            box.slots[slot] = box.slots[other]
        else:
            if self.foreign is None:
                raise ValueError(f"case {box.number}: an other-batch fault needs packer.foreign")
            box.slots[slot] = self.foreign
        box.fault = fault

    # -- labels ----------------------------------------------------------------------------------

    def receive(self, label: PrintedLabel) -> None:
        """A label left the printer (see the module docstring for where it goes)."""
        known = self.by_sscc(label.sscc)
        if known is not None:
            self._apply(known, label, reprint=True)
        else:
            self.waiting = deque(w for w in self.waiting if w.sscc != label.sscc)
            self.waiting.append(label)
        self._settle()

    def cancel_waiting(self) -> int:
        """``~JA``: labels on the applicator are dropped; returns how many."""
        dropped = len(self.waiting)
        self.waiting.clear()
        return dropped

    def _settle(self) -> None:
        """Apply waiting labels where they now fit, oldest first."""
        progress = True
        while progress and self.waiting:
            progress = False
            for label in list(self.waiting):
                target = self._target(label)
                if target is not None:
                    self.waiting.remove(label)
                    self._apply(target, label, reprint=False)
                    progress = True
                    break
        self._changed.set()
        self._changed = asyncio.Event()

    def _target(self, label: PrintedLabel) -> Box | None:
        boxes = self.cases if label.level == CASE else self.pallets
        for box in boxes:
            if box.closed and box.label is None:
                return box
        if boxes and not boxes[-1].closed and boxes[-1].units and boxes[-1].units == label.count:
            self._close(boxes[-1], partial=True)
            return boxes[-1]
        return None

    def _apply(self, box: Box, label: PrintedLabel, *, reprint: bool) -> None:
        box.label = label
        self.applied += 1
        self.last_labelled = box
        self._write("label", level=box.level, number=box.number, sscc=label.sscc, reprint=reprint)

    # -- the reader and the palletiser -----------------------------------------------------------

    def read(self) -> CodeRead:
        """What the label reader reports now: the label of the container labelled last."""
        box = self.last_labelled
        if box is None or box.label is None:
            return CodeRead(text=None)
        label = box.label
        if box.level == CASE and box.pallet is None and self.pallet_size:
            self._stack(box)
        self._changed.set()
        self._changed = asyncio.Event()
        return CodeRead(text=label.data, symbology_id=_SYMBOLOGY_IDS[label.symbology], grade="A")

    def _stack(self, case: Box) -> None:
        pallet = self._open(PALLET)
        pallet.cases.append(case.number)
        pallet.units += case.units
        case.pallet = pallet.number
        self._write("stack", case=case.number, pallet=pallet.number)
        if len(pallet.cases) >= self.pallet_size:
            self._close(pallet, partial=False)
        self._settle()

    def _write(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.write(json.dumps({"event": event} | fields) + "\n")
            self._log.flush()


class CaseLabelPrinter(TcpDevice):
    """A Zebra ZPL printer whose labels go onto cases and pallets, on raw TCP like port 9100.

    Answers ``~HS`` (formats in buffer: labels waiting on the applicator) and the label
    odometer (labels applied); ``~JA`` drops the waiting labels.
    """

    def __init__(
        self, packer: CasePacker, host: str = "127.0.0.1", port: int = 0, *, name: str = ""
    ) -> None:
        self.packer = packer
        self.service = TcpService(name or "case-label-printer-sim", self._serve, host, port)
        self.labels: list[PrintedLabel] = []
        self.protocol_errors: list[str] = []
        self.paper_out = False
        self._received = asyncio.Event()

    async def wait_label(self) -> None:
        """Wait for the next label to arrive (tests await this instead of sleeping)."""
        await self._received.wait()

    def host_status(self) -> HostStatus:
        return HostStatus(
            comm_settings=0o33,
            paper_out=self.paper_out,
            paused=False,
            label_length_dots=1218,
            formats_in_buffer=min(999, len(self.packer.waiting)),
            function_settings=1,
            head_up=False,
            ribbon_out=False,
            thermal_transfer=True,
            print_mode=4,  # applicator
            format_while_printing=True,
        )

    def _reply(self, codec: ZplDeviceConnection, event: object) -> bytes:
        if isinstance(event, Label):
            printed = label_from_zpl(event)
            if printed is None:
                self.protocol_errors.append("a label without an SSCC code: not applied")
            elif not self.paper_out:
                self.labels.append(printed)
                for _ in range(event.quantity):
                    self.packer.receive(printed)
                self._received.set()
                self._received = asyncio.Event()
        elif isinstance(event, HostStatusRequest):
            return codec.send(self.host_status())
        elif isinstance(event, SgdCommand) and event.verb == "getvar":
            known = event.name == LABEL_COUNT_VAR
            return codec.send(SgdValue(str(self.packer.applied) if known else "?"))
        elif isinstance(event, ControlCommand) and event.name == "JA":
            self.packer.cancel_waiting()
        return b""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = ZplDeviceConnection()
        while data := await reader.read(65536):
            codec.receive_data(data)
            replies = bytearray()
            for event in drain(codec, lambda exc: self.protocol_errors.append(str(exc))):
                replies += self._reply(codec, event)
            if replies:
                writer.write(bytes(replies))
                await writer.drain()


class _LabelReader:
    """Mixin for a reader simulator that reads case and pallet labels instead of packs.

    ``no_read_rate`` (seeded) and ``fail_next`` (the next n triggers) inject no-reads.
    """

    packer: CasePacker
    no_read_rate: float
    fail_next: int
    triggers: int
    rng: random.Random

    def read_camera(self) -> CodeRead:
        self.triggers += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return CodeRead(text=None)
        if self.no_read_rate and self.rng.random() < self.no_read_rate:
            return CodeRead(text=None)
        return self.packer.read()


class CaseLabelDmccReader(_LabelReader, DmccReaderSimulator):
    """A DataMan (DMCC) reading case and pallet labels."""


class CaseLabelKeyenceReader(_LabelReader, KeyenceReaderSimulator):
    """A Keyence SR reading case and pallet labels."""


def case_label_reader(
    protocol: str,
    packer: CasePacker,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 0,
    no_read_rate: float = 0.0,
) -> ReaderServer:
    """The label reader for ``protocol`` ("dmcc" or "keyence")."""
    if not 0.0 <= no_read_rate <= 1.0:
        raise ValueError(f"no_read_rate must be within 0..1, got {no_read_rate}")
    reader: CaseLabelDmccReader | CaseLabelKeyenceReader
    if protocol == "dmcc":
        reader = CaseLabelDmccReader(packer.line, host, port, seed=seed)
    elif protocol == "keyence":
        reader = CaseLabelKeyenceReader(packer.line, host, port, seed=seed)
    else:
        raise ValueError(f"no case-label reader simulator for protocol {protocol!r}")
    reader.packer = packer
    reader.no_read_rate = no_read_rate
    reader.fail_next = 0
    reader.rng = random.Random(f"case-label-reader:{seed}")
    return reader
