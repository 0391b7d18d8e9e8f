"""The virtual line: packs moving at a set speed past the stations, with seeded fault injection.

The line advances one pitch per tick; a pack reaches a station when its distance from the infeed
equals the station's position (in pitches). Every simulator registers a callback for its station.
What a printer simulator marks on a pack is what the camera simulator later renders, and the pack
keeps the ground truth.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class Station(enum.StrEnum):
    """The stations along the conveyor, in order."""

    PRINTER = "printer"
    CAMERA = "camera"
    GATE = "gate"
    PACKER = "packer"


class Defect(enum.StrEnum):
    """Faults injectable per pack. Print faults act at the printer, image faults at the camera."""

    NO_PRINT = "no-print"
    SMUDGE = "smudge"
    LOW_CONTRAST = "low-contrast"
    MISSING_MODULES = "missing-modules"
    BLUR = "blur"
    WRONG_CONTENT = "wrong-content"  # a pack carrying a code from another batch
    DUPLICATE = "duplicate"  # a pack carrying a code already printed on an earlier pack


PRINT_DEFECTS = frozenset({Defect.NO_PRINT, Defect.WRONG_CONTENT, Defect.DUPLICATE})


@dataclass
class Pack:
    """One pack on the conveyor and everything that happened to it (the ground truth)."""

    seq: int
    defect: Defect | None = None
    printed: str | None = None  # the data actually marked on the pack, None if unmarked
    intended: str | None = None  # what the host asked to print for this pack
    text: tuple[str, ...] = ()  # the human-readable lines printed beside the code, as sent
    inlay: bytes | None = None  # the EPC bank an RFID printer wrote into the pack's tag, if any
    inlay_weak: bool = False  # the pack's tag answers weakly (a simulated inlay fault)
    verdict: int = 0
    rejected: bool | None = None
    reject_confirmed: bool | None = None


@dataclass(frozen=True)
class LineLayout:
    """Station positions in pitches from the infeed, and the speed."""

    packs_per_minute: float = 600.0
    printer: int = 0
    camera: int = 3
    gate: int = 6
    packer: int = 8

    def position(self, station: Station) -> int:
        return int(getattr(self, station.value))

    @property
    def pitch_seconds(self) -> float:
        return 60.0 / self.packs_per_minute


@dataclass
class FaultPlan:
    """Seeded per-pack defect draw: ``rates`` maps a defect to its probability."""

    seed: int = 0
    rates: dict[Defect, float] = field(default_factory=dict)
    gate_confirm_failure_rate: float = 0.0

    def __post_init__(self) -> None:
        total = sum(self.rates.values())
        if total > 1.0 or any(r < 0 for r in self.rates.values()):
            raise ValueError(f"defect rates must be >= 0 and sum to at most 1, got {total}")
        self.rng = random.Random(self.seed)

    def draw(self) -> Defect | None:
        x = self.rng.random()
        for defect, rate in sorted(self.rates.items()):
            if x < rate:
                return defect
            x -= rate
        return None

    def gate_fails_to_confirm(self) -> bool:
        return self.rng.random() < self.gate_confirm_failure_rate


StationHandler = Callable[[Pack], Awaitable[None] | None]


class VirtualLine:
    """Moves packs; calls each station's handlers when a pack arrives there."""

    def __init__(self, layout: LineLayout, faults: FaultPlan | None = None) -> None:
        self.layout = layout
        self.faults = faults or FaultPlan()
        self.handlers: dict[Station, list[StationHandler]] = {s: [] for s in Station}
        self.on_conveyor: deque[Pack] = deque()
        self.history: dict[int, Pack] = {}
        self.next_seq = 1
        self.running = False
        self.packs_limit: int | None = None
        self._ticked = asyncio.Event()

    def on(self, station: Station, handler: StationHandler) -> None:
        """Register ``handler`` to run when a pack reaches ``station``."""
        self.handlers[station].append(handler)

    def pack_at(self, station: Station) -> Pack | None:
        """The pack standing at ``station`` right now, if any."""
        pos = self.layout.position(station)
        for pack in self.on_conveyor:
            if self.next_seq - 1 - pack.seq == pos:
                return pack
        return None

    async def tick(self) -> None:
        """Advance one pitch: feed a pack in (until the limit), fire the station handlers."""
        if self.packs_limit is None or self.next_seq <= self.packs_limit:
            new = Pack(seq=self.next_seq, defect=self.faults.draw())
            self.on_conveyor.append(new)
            self.history[new.seq] = new
        self.next_seq += 1
        last = self.layout.packer
        while self.on_conveyor and self.next_seq - 1 - self.on_conveyor[0].seq > last:
            self.on_conveyor.popleft()
        for station in Station:
            pack = self.pack_at(station)
            if pack is None:
                continue
            for handler in self.handlers[station]:
                result = handler(pack)
                if result is not None:
                    await result
        self._ticked.set()
        self._ticked = asyncio.Event()

    async def run(self, ticks: int | None = None) -> None:
        """Tick at the layout's speed on the loop clock (no drift), forever or ``ticks`` times."""
        loop = asyncio.get_running_loop()
        self.running = True
        start = loop.time()
        n = 0
        try:
            while self.running and (ticks is None or n < ticks):
                await self.tick()
                n += 1
                delay = start + n * self.layout.pitch_seconds - loop.time()
                await asyncio.sleep(max(0.0, delay))
        finally:
            self.running = False

    async def wait_tick(self) -> None:
        """Wait until the next tick has been processed (for tests and simulators that follow)."""
        await self._ticked.wait()
