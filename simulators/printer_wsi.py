"""A Videojet continuous-inkjet printer speaking WSI, on TCP (port 3100) and/or a serial port.

Serial is a pseudo-terminal: the simulator holds the master side and publishes the slave under a
fixed path (a symlink, like socat's ``link=``), so a driver opens that path with pyserial as it
would ``/dev/ttyS0``; an "unplug" (``drop_connections``, ``SerialFaults.drop_after``) replaces the
pty and re-points the link, the way a USB adapter comes back. Serial fault knobs stand in for the
TCP FaultProxy: split writes, garbage, joined replies, drop mid-reply.

Printing: an update of the code field queues one job (print-ahead queue, see
simulators.print_engine); the HRI fields in effect at that moment go with it. ``GA`` answers the
print counter, ``E`` the active error codes (drivers.wsi.codec.ERROR_NAMES); an error code or
print-off stops printing. Unknown packet types get ``!XX``.

Alone: ``python -m simulators printer --protocol wsi --port 3100 --serial /tmp/wsi0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pty
import tty
from dataclasses import dataclass
from pathlib import Path

from drivers.interfaces import ProtocolError
from drivers.sansio import drain
from drivers.wsi.codec import (
    DEFAULT_COMMANDS,
    ERROR_NAMES,
    SEP,
    Ack,
    Command,
    DataReply,
    Nak,
    WsiCommandSet,
    WsiDeviceConnection,
)
from simulators.line import VirtualLine
from simulators.print_engine import (
    PrintEngine,
    QueuedJob,
    add_standalone_arguments,
    cancel_on_sigterm,
    standalone_line,
)
from simulators.tcp_service import TcpService

log = logging.getLogger("simulators.printer_wsi")


@dataclass
class SerialFaults:
    """What the serial side does to replies (printer -> host)."""

    split_writes: bool = False  # every byte its own write, with the loop turning between
    garbage: bytes = b""  # sent once, before the next reply
    join_replies: int = 1  # hold replies until this many, then send them in one write
    drop_after: int | None = None  # send this many bytes of the next reply, then unplug


class _Pty:
    """One pseudo-terminal pair, raw mode; the slave path is published as ``link``."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        target = os.ttyname(self.slave)
        tmp = link.with_name(link.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(target)
        tmp.replace(link)  # atomic: a driver never sees the link missing

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class WsiPrinterSimulator:
    """The printer: WSI over TCP and/or a pty serial port, print engine on ``line``."""

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int | None = 0,
        *,
        serial_link: str | Path | None = None,
        commands: WsiCommandSet = DEFAULT_COMMANDS,
        code_field: str = "CODE",
        log_path: str | Path | None = None,
        seed: int = 0,
        reprint_last_when_empty: bool = False,
        name: str = "wsi-printer-sim",
    ) -> None:
        self.line = line
        self.name = name
        self.commands = commands
        self.code_field = code_field
        self.engine = PrintEngine(
            name, log_path=log_path, seed=seed, reprint_last_when_empty=reprint_last_when_empty
        )
        self.engine.attach(line)
        self.service = (
            TcpService(name, self._serve_client, host, port) if port is not None else None
        )
        self.serial_link = Path(serial_link) if serial_link is not None else None
        self.serial_faults = SerialFaults()
        self.fields: dict[str, str] = {}
        self.message: str | None = None
        self.errors: set[int] = set()
        self.received: list[Command] = []
        self.protocol_errors: list[str] = []
        self._pty: _Pty | None = None
        self._serial_codec = WsiDeviceConnection(commands)
        self._held: list[bytes] = []
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self.service.port if self.service is not None else 0

    async def start(self) -> int:
        """Start serving; returns the TCP port (0 when TCP is off)."""
        if self.serial_link is not None:
            self._plug()
            task = asyncio.create_task(self._serial_writer(), name=f"{self.name}-serial-writer")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await self.service.start() if self.service is not None else 0

    async def close(self) -> None:
        """Stop TCP and serial; the serial link path goes away. Safe twice."""
        if self.service is not None:
            await self.service.close()
        self._unplug()
        if self.serial_link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.serial_link.unlink()
        await self._out.put(None)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._out = asyncio.Queue()
        self.engine.close()

    async def drop_connections(self) -> None:
        """Cut TCP clients and unplug/replug the serial port."""
        if self.service is not None:
            await self.service.drop_all()
        if self._pty is not None:
            self._replug()

    def set_error(self, code: int, active: bool = True) -> None:
        """Raise or clear an error code (reported by ``E``; any error stops printing)."""
        name = ERROR_NAMES.get(code, f"error-{code:02d}")
        if active:
            self.errors.add(code)
        else:
            self.errors.discard(code)
        self.engine.set_fault(name, active)

    # --- protocol ---------------------------------------------------------------------------------

    def handle(self, command: Command) -> Ack | Nak | DataReply:
        """The printer's answer to one packet (and its effect)."""
        self.received.append(command)
        cmds = self.commands
        if command.code == cmds.print_count:
            return DataReply(cmds.print_count.encode() + str(self.engine.count).encode())
        if command.code == cmds.error_status:
            codes = ",".join(f"{c:02d}" for c in sorted(self.errors))
            return DataReply(cmds.error_status.encode() + codes.encode())
        if command.code == cmds.message_select and command.data:
            self.message = command.data.decode("latin-1")
            return Ack(command.checksum)
        if command.code == cmds.user_field and SEP in command.data:
            name, _, value = command.data.decode("latin-1").partition(SEP.decode())
            self.fields[name] = value
            if name == self.code_field:
                hri = tuple(v for k, v in sorted(self.fields.items()) if k.startswith("HRI"))
                self.engine.enqueue(QueuedJob(data=value, hri=hri))
            return Ack(command.checksum)
        if command.code in (cmds.print_on, cmds.print_off):
            self.engine.enabled = command.code == cmds.print_on
            return Ack(command.checksum)
        return Nak(command.checksum)

    def _replies(self, codec: WsiDeviceConnection, data: bytes) -> list[bytes]:
        codec.receive_data(data)
        return [codec.send(self.handle(event)) for event in drain(codec, self._protocol_error)]

    def _protocol_error(self, exc: ProtocolError) -> None:
        self.protocol_errors.append(str(exc))
        log.info("%s: %s", self.name, exc)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        codec = WsiDeviceConnection(self.commands)
        while data := await reader.read(65536):
            replies = self._replies(codec, data)
            if replies:
                writer.write(b"".join(replies))
                await writer.drain()

    # --- serial (pty) -----------------------------------------------------------------------------

    def _plug(self) -> None:
        assert self.serial_link is not None
        self._pty = _Pty(self.serial_link)
        self._serial_codec = WsiDeviceConnection(self.commands)
        asyncio.get_running_loop().add_reader(self._pty.master, self._on_serial_input)

    def _unplug(self) -> None:
        if self._pty is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pty.master)
            self._pty.close()
            self._pty = None
        self._held.clear()

    def _replug(self) -> None:
        self._unplug()
        self._plug()

    def _on_serial_input(self) -> None:
        if self._pty is None:
            return
        try:
            data = os.read(self._pty.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: nobody has the port open right now
        for reply in self._replies(self._serial_codec, data):
            self._held.append(reply)
        if self._held and len(self._held) >= max(1, self.serial_faults.join_replies):
            self._out.put_nowait(b"".join(self._held))
            self._held.clear()

    async def _serial_writer(self) -> None:
        """Writes replies to the pty, applying the serial fault knobs."""
        while (payload := await self._out.get()) is not None:
            faults = self.serial_faults
            if faults.garbage:
                payload, faults.garbage = faults.garbage + payload, b""
            if faults.drop_after is not None:
                cut, faults.drop_after = faults.drop_after, None
                await self._write_pty(payload[:cut], split=faults.split_writes)
                self._replug()
                continue
            await self._write_pty(payload, split=faults.split_writes)

    async def _write_pty(self, payload: bytes, *, split: bool) -> None:
        chunks = [payload[i : i + 1] for i in range(len(payload))] if split else [payload]
        for chunk in chunks:
            while chunk and self._pty is not None:
                try:
                    written = os.write(self._pty.master, chunk)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                except OSError:
                    return
                chunk = chunk[written:]
            if split:
                await asyncio.sleep(0.001)  # let the reader see each byte on its own


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_standalone_arguments(p, default_port=3100)
    p.add_argument("--serial", default=None, help="also serve a pty, linked at this path")
    p.add_argument("--no-tcp", action="store_true", help="serial only")
    p.add_argument("--code-field", default="CODE", help="user field that carries the code")


async def serve(args: argparse.Namespace) -> None:
    """Run the printer alone with its own virtual line until cancelled."""
    stopping = cancel_on_sigterm()
    line = standalone_line(args)
    sim = WsiPrinterSimulator(
        line,
        args.host,
        None if args.no_tcp else args.port,
        serial_link=args.serial,
        code_field=args.code_field,
        log_path=args.print_log,
        seed=args.seed,
    )
    await sim.start()
    if args.serial:
        log.info("%s: serial port at %s", sim.name, args.serial)
    try:
        await line.run()
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        await sim.close()
