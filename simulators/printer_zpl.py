"""A Zebra ZPL II printer on the virtual line, serving raw TCP like port 9100 of a real one.

Label formats queue up (``formats in receive buffer`` in ``~HS``); each pack reaching the printer
takes the next one (see simulators.print_engine). Answers ``~HS`` and ``! U1 getvar
"odometer.total_label_count"``; ``~JA`` cancels all queued formats, ``~PP``/``~PS`` pause and
resume. Faults (head open, paper out, ribbon out, pause) show in ``~HS`` and stop printing; with
``silent_when_faulted`` it behaves like newer firmware and does not answer ``~HS`` at all then.

RFID: a format with ``^RFW`` has its EPC encoded into the inlay of the pack's label (seeded
faults: ``rfid_faults``, see simulators.rfid_inlay); its ``^HV`` read-back (``^RFR`` into the
field ``^HV`` names, one reply per label) goes to every connected host as the label is printed:
the header, the read-back (empty for a void label), the terminator.

Alone: ``python -m simulators printer --protocol zpl --port 9100 --speed 600``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drivers.interfaces import ProtocolError
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
from simulators.line import VirtualLine
from simulators.marking import render_code
from simulators.print_engine import (
    PrintEngine,
    QueuedJob,
    add_standalone_arguments,
    cancel_on_sigterm,
    standalone_line,
)
from simulators.rfid_inlay import Encoding, InlayFault, InlayFaults
from simulators.tcp_service import TcpDevice, TcpService

log = logging.getLogger("simulators.printer_zpl")

HARDWARE_FAULTS = ("head-open", "paper-out", "ribbon-out")
_KINDS = {"datamatrix": "datamatrix", "gs1-128": "gs1-128", "code128": "gs1-128", "qr": "qr"}


class ZplPrinterSimulator(TcpDevice):
    """The printer: TCP service + print engine on ``line``."""

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_path: str | Path | None = None,
        seed: int = 0,
        odometer_supported: bool = True,
        silent_when_faulted: bool = False,
        name: str = "zpl-printer-sim",
        rfid_faults: dict[InlayFault, float] | None = None,
    ) -> None:
        self.line = line
        self.engine = PrintEngine(name, log_path=log_path, seed=seed)
        self.engine.attach(line)
        self.engine.inlays = InlayFaults(seed=seed, rates=dict(rfid_faults or {}))
        self.engine.on_encoded = self._report_encoding
        self._hosts: set[asyncio.StreamWriter] = set()
        self.service = TcpService(name, self._serve_client, host, port)
        self.odometer_supported = odometer_supported
        self.silent_when_faulted = silent_when_faulted
        self.labels: list[Label] = []
        self.protocol_errors: list[str] = []
        self.status_requests = 0

    async def close(self) -> None:
        await super().close()
        self.engine.close()

    async def drop_connections(self) -> None:
        await self.service.drop_all()

    def set_fault(
        self,
        *,
        head_open: bool | None = None,
        paper_out: bool | None = None,
        ribbon_out: bool | None = None,
        paused: bool | None = None,
    ) -> None:
        """Switch printer faults on (True) or off (False); None leaves one as it is."""
        for name, value in (
            ("head-open", head_open),
            ("paper-out", paper_out),
            ("ribbon-out", ribbon_out),
            ("paused", paused),
        ):
            if value is not None:
                self.engine.set_fault(name, value)

    def host_status(self) -> HostStatus:
        faults = self.engine.faults
        return HostStatus(
            comm_settings=0o33,
            paper_out="paper-out" in faults,
            paused="paused" in faults,
            label_length_dots=400,
            formats_in_buffer=min(999, len(self.engine.queue)),
            function_settings=1,
            head_up="head-open" in faults,
            ribbon_out="ribbon-out" in faults,
            thermal_transfer=True,
            print_mode=4,  # applicator
            format_while_printing=True,
        )

    def render(self, label: Label, module_px: int = 4) -> npt.NDArray[np.uint8]:
        """The code of ``label`` as the printer would mark it (grey image, via marking)."""
        code = label.code
        if code is None:
            raise ValueError("label has no code field")
        return render_code(code.data, _KINDS[code.kind], module_px=module_px)

    def _on_label(self, label: Label) -> None:
        self.labels.append(label)
        code = label.code
        job = QueuedJob(
            data=code.data if code is not None else None,
            symbology=_KINDS.get(code.kind, "datamatrix") if code is not None else "datamatrix",
            hri=label.texts,
            host_seq=label.seq,
            epc=label.rfid.write if label.rfid is not None else None,
            rfid=label.rfid,
        )
        for _ in range(label.quantity):
            self.engine.enqueue(job)

    def _reply(self, codec: ZplDeviceConnection, event: object) -> bytes:
        if isinstance(event, Label):
            self._on_label(event)
        elif isinstance(event, HostStatusRequest):
            self.status_requests += 1
            hardware_fault = any(f in self.engine.faults for f in HARDWARE_FAULTS)
            if not (self.silent_when_faulted and hardware_fault):
                return codec.send(self.host_status())
        elif isinstance(event, SgdCommand) and event.verb == "getvar":
            known = event.name == LABEL_COUNT_VAR and self.odometer_supported
            return codec.send(SgdValue(str(self.engine.count) if known else "?"))
        elif isinstance(event, ControlCommand):
            if event.name == "JA":
                self.engine.queue.clear()
            elif event.name in ("PP", "PS"):
                self.engine.set_fault("paused", event.name == "PP")
        return b""

    def _report_encoding(self, job: QueuedJob, encoding: Encoding) -> None:
        """``^HV`` of the label just printed: its read-back field to every connected host."""
        rfid = job.rfid
        verify = rfid.verify if rfid is not None else None
        if rfid is None or verify is None or not verify.per_label:
            return
        if rfid.read_field != verify.field:
            return  # ^HV names a field the format does not read into
        data = encoding.readback[: 2 * rfid.read_bytes][: verify.length]
        line = (verify.header + data + verify.terminator).encode("latin-1")
        for writer in list(self._hosts):
            if not writer.is_closing():
                writer.write(line)

    def _protocol_error(self, exc: ProtocolError) -> None:
        self.protocol_errors.append(str(exc))
        log.info("%s: %s", self.service.name, exc)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        codec = ZplDeviceConnection()
        self._hosts.add(writer)
        try:
            while data := await reader.read(65536):
                codec.receive_data(data)
                replies = bytearray()
                for event in drain(codec, self._protocol_error):
                    replies += self._reply(codec, event)
                if replies:  # all replies to one read go out in one write
                    writer.write(bytes(replies))
                    await writer.drain()
        finally:
            self._hosts.discard(writer)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_standalone_arguments(p, default_port=9100)
    p.add_argument(
        "--silent-when-faulted",
        action="store_true",
        help="like newer firmware: no ~HS reply while head open / media out",
    )


async def serve(args: argparse.Namespace) -> None:
    """Run the printer alone with its own virtual line until cancelled."""
    stopping = cancel_on_sigterm()
    line = standalone_line(args)
    sim = ZplPrinterSimulator(
        line,
        args.host,
        args.port,
        log_path=args.print_log,
        seed=args.seed,
        silent_when_faulted=args.silent_when_faulted,
    )
    await sim.start()
    try:
        await line.run()
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        await sim.close()
