"""What the two smart-reader simulators (DMCC, Keyence SR) share: what the reader sees when
triggered, a TCP server with wire-fault knobs, and the stand-alone line that gives it packs.

The read model (seeded per pack, so a run and any re-read of a pack are reproducible):

====================  ===========================  =========================================
pack at the camera    outcome                      grade (ISO/IEC 15415 overall) when read
====================  ===========================  =========================================
none, or no print     no-read                      -
no image defect       read                         A (85 %) or B (15 %)
Defect.BLUR           no-read with p = 0.25        C
Defect.LOW_CONTRAST   no-read with p = 0.15        D (symbol contrast graded directly)
Defect.SMUDGE         no-read with p = 0.50        D
Defect.MISSING_MODULES no-read with p = 0.40       D (error correction spent)
====================  ===========================  =========================================

A read reports exactly the pack's ``printed`` data (print defects such as WRONG_CONTENT and
DUPLICATE change what is printed, not how it reads). A real reader's decoder is not simulated.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import string
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self, TypedDict, Unpack

from drivers.reader_codec import CodeRead
from simulators.line import Defect, FaultPlan, LineLayout, Pack, Station, VirtualLine

logger = logging.getLogger("simulators.reader")

GS = "\x1d"
GS1_DATAMATRIX_ID = "]d2"
DATAMATRIX_ID = "]d1"

# defect -> (probability of a no-read, grade when it reads)
IMAGE_DEFECTS: dict[Defect, tuple[float, str]] = {
    Defect.BLUR: (0.25, "C"),
    Defect.LOW_CONTRAST: (0.15, "D"),  # faded: symbol contrast fails a C minimum
    Defect.SMUDGE: (0.50, "D"),
    Defect.MISSING_MODULES: (0.40, "D"),
}


def sees(pack: Pack | None, seed: int) -> CodeRead:
    """What the reader reports for ``pack`` at the camera (see the module docstring)."""
    if pack is None or pack.printed is None:
        return CodeRead(text=None)
    rng = random.Random(f"reader:{seed}:{pack.seq}")
    draw = rng.random()
    if pack.defect in IMAGE_DEFECTS:
        no_read, grade = IMAGE_DEFECTS[pack.defect]
        if draw < no_read:
            return CodeRead(text=None)
    else:
        grade = "A" if draw < 0.85 else "B"
    digital_link = pack.printed.startswith(("http://", "https://"))  # plain ECC 200, no FNC1
    symbology_id = DATAMATRIX_ID if digital_link else GS1_DATAMATRIX_ID
    return CodeRead(text=pack.printed, symbology_id=symbology_id, grade=grade)


@dataclass
class WireFaults:
    """Faults the simulator puts on its own replies (the FaultProxy does the same from outside).

    ``split_writes``: every reply goes out one byte per write. ``garbage_rate``: chance that a
    reply is preceded by noise bytes. ``drop_rate``: chance that the connection is cut halfway
    through a reply. ``silent``: triggers get no answer at all (a hung reader).
    """

    split_writes: bool = False
    garbage_rate: float = 0.0
    drop_rate: float = 0.0
    silent: bool = False
    refuse_trigger: int | None = None
    garbage: bytes = b"\x00\xff\x13\xfe"
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        for name in ("garbage_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")
        self.rng = random.Random(f"wire:{self.seed}")


class ReaderOptions(TypedDict, total=False):
    """What every reader simulator takes: ``seed`` for reads and faults, ``decode_seconds``
    between trigger and read, wire ``faults``, ``symbology_id`` (prefix ]d2)."""

    seed: int
    decode_seconds: float
    faults: WireFaults | None
    symbology_id: bool


class ReaderServer(ABC):
    """A smart reader on TCP looking at the pack at Station.CAMERA of ``line``."""

    protocol = "reader"

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Unpack[ReaderOptions],
    ) -> None:
        self.line = line
        self.host = host
        self.port = port
        self.seed = seed = options.get("seed", 0)
        self.decode_seconds = options.get("decode_seconds", 0.002)
        self.faults = options.get("faults") or WireFaults(seed=seed)
        self.symbology_id = options.get(
            "symbology_id", True
        )  # prefix ]d2 (the reader's symbology identifier option)
        self.triggers = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; returns the bound port (the chosen one when ``port`` was 0)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("%s reader simulator listening on %s:%d", self.protocol, self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening and cut every client; safe to call twice."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()  # each session then ends on EOF
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)

    def read_camera(self) -> CodeRead:
        """Take one read of whatever stands at the camera now."""
        self.triggers += 1
        read = sees(self.line.pack_at(Station.CAMERA), self.seed)
        return read if self.symbology_id else dataclasses.replace(read, symbology_id=None)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self.session(reader, writer)
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # close() gave up waiting; asyncio's stream callback must not see the cancel
        finally:
            self._writers.discard(writer)
            writer.close()

    @classmethod
    @abstractmethod
    def from_args(cls, line: VirtualLine, args: argparse.Namespace) -> Self:
        """The simulator the stand-alone command-line options ask for."""

    @abstractmethod
    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection until it closes."""

    async def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Send one reply, applying the wire faults; raises ConnectionError after a drop."""
        if not data:
            return
        faults = self.faults
        if faults.garbage_rate and faults.rng.random() < faults.garbage_rate:
            data = faults.garbage + data
        if faults.drop_rate and faults.rng.random() < faults.drop_rate:
            writer.write(data[: len(data) // 2])
            await writer.drain()
            writer.close()
            raise ConnectionResetError("simulated drop mid-reply")
        if faults.split_writes:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
        else:
            writer.write(data)
            await writer.drain()


# --- stand-alone mode ------------------------------------------------------------------------

GTIN = "09506000134352"  # GS1's example GTIN (valid check digit)
OTHER_GTIN = "04012345000009"  # a "code from another batch" for Defect.WRONG_CONTENT


def element_string(gtin: str, expiry: str, lot: str, serial: str) -> str:
    """(01) GTIN, (17) expiry, (10) lot, GS, (21) serial: linectl's element-string form."""
    return f"01{gtin}17{expiry}10{lot}{GS}21{serial}"


def marking_printer(seed: int) -> Callable[[Pack], None]:
    """A stand-in printer for stand-alone mode: marks every pack with a fresh serialised code."""
    rng = random.Random(f"marking:{seed}")
    alphabet = string.ascii_uppercase + string.digits
    printed: list[str] = []

    def mark(pack: Pack) -> None:
        serial = "".join(rng.choice(alphabet) for _ in range(12))
        code = element_string(GTIN, "271231", f"L{seed:04d}", serial)
        pack.intended = code
        if pack.defect is Defect.NO_PRINT:
            pack.printed = None
        elif pack.defect is Defect.WRONG_CONTENT:
            pack.printed = element_string(OTHER_GTIN, "250101", "OLD1", serial)
        elif pack.defect is Defect.DUPLICATE and printed:
            pack.printed = printed[-1]
        else:
            pack.printed = code
        if pack.printed is not None:
            printed.append(pack.printed)

    return mark


def add_reader_arguments(p: argparse.ArgumentParser, default_port: int) -> None:
    """Options every stand-alone reader simulator takes."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=default_port, help="TCP port (0: any free port)")
    p.add_argument("--speed", type=float, default=600.0, help="line speed in packs per minute")
    p.add_argument("--seed", type=int, default=0, help="seed for defects, reads and faults")
    p.add_argument(
        "--defect-rate",
        type=float,
        default=0.05,
        help="share of packs with an image defect (blur, low contrast, smudge, missing modules)",
    )
    p.add_argument("--no-print-rate", type=float, default=0.01, help="share of unprinted packs")
    p.add_argument("--no-grades", action="store_true", help="do not append the quality grade")
    p.add_argument("--no-symbology-id", action="store_true", help="do not prefix ]d2")
    p.add_argument("--split-writes", action="store_true", help="send replies one byte a write")
    p.add_argument("--garbage-rate", type=float, default=0.0, help="chance of noise per reply")
    p.add_argument("--drop-rate", type=float, default=0.0, help="chance of a cut per reply")


def standalone_line(args: argparse.Namespace) -> VirtualLine:
    """The simulator's own line: packs at ``--speed``, seeded defects, printed GS1 codes."""
    share = args.defect_rate / len(IMAGE_DEFECTS)
    rates = dict.fromkeys(IMAGE_DEFECTS, share)
    rates[Defect.NO_PRINT] = args.no_print_rate
    line = VirtualLine(LineLayout(packs_per_minute=args.speed), FaultPlan(args.seed, rates))
    line.on(Station.PRINTER, marking_printer(args.seed))
    return line


def wire_faults(args: argparse.Namespace) -> WireFaults:
    """The WireFaults the stand-alone options ask for."""
    return WireFaults(
        split_writes=args.split_writes,
        garbage_rate=args.garbage_rate,
        drop_rate=args.drop_rate,
        seed=args.seed,
    )


async def run_standalone(
    server: ReaderServer, started: Callable[[int], None] | None = None
) -> None:
    """Serve ``server`` while its line runs, until cancelled; ``started`` gets the bound port."""
    port = await server.start()
    if started is not None:
        started(port)
    try:
        await server.line.run()
    finally:
        server.line.running = False
        await server.close()


async def serve_reader(
    kind: type[ReaderServer], args: argparse.Namespace, started: Callable[[int], None] | None
) -> None:
    """Run a ``kind`` reader (built from the stand-alone options) with its own line."""
    await run_standalone(kind.from_args(standalone_line(args), args), started)
