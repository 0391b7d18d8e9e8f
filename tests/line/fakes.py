"""Fakes of the line's seams for stage unit tests: devices implementing drivers.interfaces, and
the shared line objects built real (alarms, events, mirror, tallies, pack table, tracker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from drivers.interfaces import (
    DeviceError,
    Frame,
    GateEvent,
    LinkState,
    PlcSnapshot,
    PrinterStatus,
    PrintJob,
    Verdict,
)
from drivers.plc.signals import signal
from linectl.line.alarms import Alarms
from linectl.line.events import EventStream, LineEvent, Missed
from linectl.line.health import DeviceWatch
from linectl.line.packs import PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from standards.packml import PackMLState


def snapshot(state: PackMLState = PackMLState.IDLE, *, printer: int = 0, gate: int = 0,
             fault: int = 0) -> PlcSnapshot:  # fmt: skip
    return PlcSnapshot(0, int(state), printer, 0, gate, 0, 0, 0, fault)


VERDICT_SEQ = signal("VerdictRing.Slot00.Seq")


class FakePlc:
    """A PLC (drivers.interfaces.Plc) that records what it is told and answers from fields."""

    def __init__(self) -> None:
        self.link_state = LinkState.CONNECTED
        self.snap = snapshot()
        self.gate: list[GateEvent] = []
        self.verdicts: list[tuple[int, Verdict, int]] = []
        self.commands: list[int] = []
        self.beats: list[int] = []
        self.fail: DeviceError | None = None
        self.commanded = asyncio.Event()
        self.mirror: LineMirror | None = None  # a command moves it to ``moves_to`` when set
        self.moves_to: dict[int, PackMLState] = {}
        self.heartbeat_frozen = False  # the PLC program stopped, its network side answers

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def write_verdict(self, seq: int, verdict: Verdict, reason: int = 0) -> None:
        self._check()
        VERDICT_SEQ.encode(seq)  # as the drivers do: ValueError beyond the map's 32 bits
        self.verdicts.append((seq, verdict, reason))

    async def read_snapshot(self) -> PlcSnapshot:
        self._check()
        if not self.heartbeat_frozen:  # a live PLC's heartbeat moves between reads
            self.snap = replace(self.snap, heartbeat=(self.snap.heartbeat + 1) & 0xFFFF)
        return self.snap

    async def gate_events(self) -> list[GateEvent]:
        self._check()
        events, self.gate = self.gate, []
        return events

    async def write_heartbeat(self, value: int) -> None:
        self._check()
        self.beats.append(value)

    async def command(self, packml_command: int) -> None:
        self._check()
        self.commands.append(int(packml_command))
        self.commanded.set()
        state = self.moves_to.get(int(packml_command))
        if self.mirror is not None and state is not None:
            self.mirror.plc_state = state
            self.mirror.changed()


class FakePrinter:
    """A printer (drivers.interfaces.Printer, ClearablePrinter) with a settable status."""

    def __init__(self) -> None:
        self.link_state = LinkState.CONNECTED
        self.state = PrinterStatus(ready=True, print_count=0)
        self.jobs: list[PrintJob] = []
        self.fail: DeviceError | None = None
        self.cleared = 0

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def load(self, job: PrintJob) -> None:
        if self.fail is not None:
            raise self.fail
        self.jobs.append(job)

    async def status(self) -> PrinterStatus:
        if self.fail is not None:
            raise self.fail
        return self.state

    async def clear(self) -> None:
        self.cleared += 1


class FakeCamera:
    """A camera (drivers.interfaces.Camera) that yields the frames put in its queue."""

    def __init__(self) -> None:
        self.link_state = LinkState.CONNECTED
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.protocol_errors = 0

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def frames(self) -> AsyncIterator[Frame]:
        while (frame := await self.queue.get()) is not None:
            yield frame


@dataclass
class Seams:
    """The shared line objects, real, for one stage under test."""

    alarms: Alarms = field(default_factory=Alarms)
    events: EventStream = field(default_factory=EventStream)
    mirror: LineMirror = field(default_factory=LineMirror)
    tally: Tally = field(default_factory=Tally)
    packs: PackTable = field(default_factory=PackTable)
    tracker: PrintAhead = field(default_factory=PrintAhead)
    failed: list[str] = field(default_factory=list)
    supervisor: Supervisor = field(init=False)
    health: DeviceWatch = field(init=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(lambda task: self.failed.append(task.get_name()))
        names = {r: r for r in ("plc", "printer", "camera")}
        self.health = DeviceWatch(names, {}, self.alarms, self.events)


def drain(sub: Any) -> list[LineEvent | Missed]:
    """Every event a subscription holds now."""
    out: list[LineEvent | Missed] = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out
