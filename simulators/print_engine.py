"""What every printer simulator shares: a print-ahead queue applied to the pack at the printer.

Jobs arrive over the wire (a ZPL format, a WSI code-field update) and queue up; each pack that
reaches Station.PRINTER takes the next job. Nothing queued, or the printer faulted or switched
off: the pack passes unmarked and the job (if any) waits. The pack's injected print defect
decides what is really marked: NO_PRINT nothing, WRONG_CONTENT a code from another batch (same
GTIN, other lot and serial), DUPLICATE the data marked on an earlier pack. The counter counts every
job the printer believes it printed; the print log records what was really marked, pack by
pack, in memory and optionally as JSON lines, so a run can prove no serial was printed twice
(entries with a DUPLICATE defect are the injected exceptions). A job with an EPC (an RFID
printer's) is also encoded into the label's inlay, with the seeded inlay faults of
:mod:`simulators.rfid_inlay`; ``on_encoded`` hears each label's read-back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from simulators.line import Defect, FaultPlan, LineLayout, Pack, Station, VirtualLine
from simulators.marking import drop_ais, is_digital_link, join_ais, split_ais
from simulators.rfid_inlay import Encoding, InlayFaults
from standards.gs1.checkdigit import check_digit

if TYPE_CHECKING:
    from drivers.zpl.rfid import RfidFormat


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One job waiting in the printer: the code's data and what else goes on the mark."""

    data: str | None
    symbology: str = "datamatrix"
    hri: tuple[str, ...] = ()
    host_seq: int | None = None  # the seq the host meant it for, when the protocol carries it
    epc: str | None = None  # hex to encode into the label's inlay (an RFID printer's job)
    rfid: RfidFormat | None = None  # the label's RFID commands (ZPL), read-back asked or not


@dataclass(frozen=True, slots=True)
class PrintRecord:
    """One print: pack seq, what was marked (None: nothing) and what the job asked for."""

    n: int  # the printer's counter after this print
    seq: int
    data: str | None
    intended: str | None
    symbology: str
    host_seq: int | None
    defect: str | None
    time: float
    epc: str | None = None  # the EPC the job asked to encode (hex)
    inlay: str | None = None  # what the inlay really holds (hex; None: nothing)
    readback: str | None = None  # what the printer read back and reported ("": void label)
    inlay_fault: str | None = None


def other_batch(data: str, rng: random.Random) -> str:
    """A plausible code from another batch: same GTIN, another lot and serial (or SSCC)."""
    fresh = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(12))
    if is_digital_link(data):
        parts = data.split("/")
        for key, new in (("10", "W" + fresh[:6]), ("21", fresh)):
            if key in parts[:-1]:
                parts[parts.index(key) + 1] = new
        changed = "/".join(parts)
        return changed if changed != data else data + "/21/" + fresh
    try:
        pairs = split_ais(data)
    except ValueError:
        return data[::-1] if data[::-1] != data else data + "X"
    out: list[tuple[str, str]] = []
    touched = False
    for ai, value in pairs:
        if ai == "10":
            value, touched = ("W" + fresh)[: max(2, len(value))], True
        elif ai == "21":
            value, touched = fresh[: max(4, len(value))], True
        elif ai == "00":
            body = value[:9] + "".join(rng.choice("0123456789") for _ in range(8))
            value, touched = body + check_digit(body), True
        out.append((ai, value))
    if not touched:
        out.append(("21", fresh))
    return join_ais(out)


class PrintEngine:
    """The print-ahead queue, counter, faults and print log of one simulated printer."""

    def __init__(
        self,
        name: str,
        *,
        log_path: str | Path | None = None,
        seed: int = 0,
        reprint_last_when_empty: bool = False,
    ) -> None:
        self.name = name
        self.queue: deque[QueuedJob] = deque()
        self.log: list[PrintRecord] = []
        self.count = 0
        self.faults: set[str] = set()
        self.enabled = True
        # a CIJ printer without a queue re-prints its current fields on every trigger
        self.reprint_last_when_empty = reprint_last_when_empty
        self._last: QueuedJob | None = None
        self._rng = random.Random(seed)
        self._file: IO[str] | None = (
            open(log_path, "a", encoding="utf-8") if log_path is not None else None  # noqa: SIM115
        )
        self._printed = asyncio.Event()
        self._queued = asyncio.Event()
        self.dropped_ais: frozenset[str] = frozenset()
        self.drop_on: frozenset[int] | None = None
        self.inlays = InlayFaults(seed=seed)
        self.on_encoded: Callable[[QueuedJob, Encoding], None] | None = None

    def drop_fields(self, ais: frozenset[str], seqs: frozenset[int] | None = None) -> None:
        """Fault: the printer's template lacks these AIs (e.g. the national number 710), on the
        packs ``seqs`` (None: every pack) until called again with no AIs."""
        self.dropped_ais = frozenset(ais)
        self.drop_on = seqs

    def _drops(self, seq: int) -> bool:
        return self.drop_on is None or seq in self.drop_on

    def attach(self, line: VirtualLine) -> None:
        line.on(Station.PRINTER, self.on_pack)

    def enqueue(self, job: QueuedJob) -> None:
        self.queue.append(job)
        self._queued.set()
        self._queued = asyncio.Event()

    async def wait_queued(self, n: int = 1) -> None:
        """Wait until at least ``n`` jobs wait in the queue."""
        while len(self.queue) < n:
            await self._queued.wait()

    def set_fault(self, name: str, active: bool = True) -> None:
        if active:
            self.faults.add(name)
        else:
            self.faults.discard(name)

    @property
    def ready(self) -> bool:
        return self.enabled and not self.faults

    def marked(self) -> list[str]:
        """Everything really marked so far, in print order."""
        return [r.data for r in self.log if r.data is not None]

    def on_pack(self, pack: Pack) -> None:
        """Station handler: mark ``pack`` with the next job, honouring its print defect."""
        if not self.ready:
            return
        if self.queue:
            job = self.queue.popleft()
        elif self.reprint_last_when_empty and self._last is not None:
            job = self._last
        else:
            return
        self._last = job
        data = job.data
        if pack.defect is Defect.NO_PRINT:
            data = None
        elif pack.defect is Defect.WRONG_CONTENT and data is not None:
            data = other_batch(data, self._rng)
        elif pack.defect is Defect.DUPLICATE:
            earlier = self.marked()
            data = earlier[-1] if earlier else data
        if data is not None and self.dropped_ais and self._drops(pack.seq):
            data = drop_ais(data, self.dropped_ais)
        pack.intended = job.data
        pack.printed = data
        pack.text = job.hri if data is not None else ()
        encoding = fault = None
        if job.epc is not None:
            labelled = pack.defect is not Defect.NO_PRINT
            encoding = self.inlays.encode(pack, job.epc, labelled=labelled)
            fault = None if encoding.fault is None else encoding.fault.value
        self.count += 1
        defect = pack.defect.value if pack.defect is not None else None
        record = PrintRecord(
            n=self.count,
            seq=pack.seq,
            data=data,
            intended=job.data,
            symbology=job.symbology,
            host_seq=job.host_seq,
            defect=defect,
            time=time.time(),
            epc=job.epc,
            inlay=None if encoding is None else encoding.inlay,
            readback=None if encoding is None else encoding.readback,
            inlay_fault=fault,
        )
        self.log.append(record)
        if self._file is not None:
            self._file.write(json.dumps(asdict(record)) + "\n")
            self._file.flush()
        if encoding is not None and self.on_encoded is not None:
            self.on_encoded(job, encoding)
        self._printed.set()
        self._printed = asyncio.Event()

    async def wait_print(self) -> None:
        """Wait for the next print (tests and followers await this instead of sleeping)."""
        await self._printed.wait()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --- standalone mode (``python -m simulators printer --protocol ...``) ---------------------------


def parse_defects(text: str) -> dict[Defect, float]:
    """``"no-print=0.01,duplicate=0.001"`` -> rates per print defect (for --defects)."""
    rates: dict[Defect, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            defect = Defect(name.strip())
            rate = float(value) if sep else float("nan")
        except ValueError:
            raise ValueError(f"--defects: {item!r} is not <defect>=<rate>") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"--defects: rate for {name} must be within 0..1, got {value!r}")
        rates[defect] = rate
    return rates


def add_standalone_arguments(p: argparse.ArgumentParser, default_port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=default_port, help="TCP port (0: any free port)")
    p.add_argument("--speed", type=float, default=600.0, help="line speed, packs per minute")
    p.add_argument("--seed", type=int, default=0, help="seed for defects and wrong content")
    p.add_argument("--defects", default="", help="print defect rates, e.g. no-print=0.01")
    p.add_argument("--print-log", default=None, help="append every print as JSON to this file")


def standalone_line(args: argparse.Namespace) -> VirtualLine:
    """The simulator's own virtual line when it runs alone."""
    faults = FaultPlan(seed=args.seed, rates=dict(parse_defects(args.defects)))
    return VirtualLine(LineLayout(packs_per_minute=args.speed), faults)


def cancel_on_sigterm() -> asyncio.Event:
    """Make SIGTERM cancel the running task, so a standalone simulator cleans up (links, logs).

    Returns an event set when SIGTERM arrived, to tell that cancellation from any other.
    """
    stopping = asyncio.Event()
    task = asyncio.current_task()

    def _stop() -> None:
        stopping.set()
        if task is not None:
            task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, _stop)
    return stopping
