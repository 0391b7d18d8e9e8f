"""WsiPrinter: a Videojet continuous-inkjet printer over WSI as a drivers.interfaces.Printer.

Transports: TCP (port 3100) or RS-232 through pyserial on its own thread (never blocking the loop).
``load(job)`` writes the human-readable lines into user fields HRI1.. and then the code into the
code field (the write that queues the print), all in one write, and waits for each packet's
``$XX`` (a ``!XX`` for one of them is a DeviceError). Acks are matched by checksum, so a stale
check sequence is recognised and skipped. ``status()`` asks for the print counter (``GA``) and
the error status (``E``) in one write. Print confirmation is the counter moving.

The message (layout, symbology) is set up on the printer; linectl only fills its user fields, so
the job's symbology must match the message selected (``message=`` selects it at connect).

WSI has no command that cancels prints already queued, so this driver is no ClearablePrinter: a
host that must resynchronise a WSI printer re-bases its queue instead (the queued prints go, in
order, on the next packs) or has the operator clear the printer at its panel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from drivers.interfaces import DeviceError, LogisticLabel, PrinterStatus, PrintJob
from drivers.links import Link, SerialLink, TcpLink
from drivers.printer_link import PrinterLink
from drivers.reconnect import ReconnectPolicy
from drivers.wsi.codec import (
    DEFAULT_COMMANDS,
    Ack,
    Command,
    DataReply,
    Nak,
    WsiCommandSet,
    WsiHostConnection,
    WsiHostEvent,
    command_set,
    error_status_request,
    fault_names,
    parse_error_status,
    parse_print_count,
    print_count_request,
    select_message,
    update_user_field,
)

log = logging.getLogger("linectl.devices.wsi")


class WsiPrinter(PrinterLink[WsiHostEvent]):
    """A WSI printer; build it with :meth:`tcp` or :meth:`serial`.

    Offers: Printer, LabelPrinter (a logistic label into a GS1-128 message's fields),
    Reconnecting. Not ClearablePrinter: WSI cannot cancel queued prints.
    """

    def __init__(
        self,
        make_link: Callable[[], Link],
        *,
        name: str = "wsi-printer",
        policy: ReconnectPolicy | None = None,
        connect_timeout: float = 3.0,
        reply_timeout: float = 2.0,
        commands: WsiCommandSet | Mapping[str, str] = DEFAULT_COMMANDS,
        message: str | None = None,
        code_field: str = "CODE",
        hri_fields: Sequence[str] = ("HRI1", "HRI2", "HRI3"),
    ) -> None:
        self._codec = WsiHostConnection()
        super().__init__(
            name,
            make_link,
            self._codec,
            policy=policy,
            connect_timeout=connect_timeout,
            reply_timeout=reply_timeout,
        )
        self.commands = command_set(commands)
        self.message = message
        self.code_field = code_field
        self.hri_fields = tuple(hri_fields)
        self._base: tuple[int, int] | None = None  # (loaded, print count) at the first status

    @classmethod
    def tcp(cls, host: str, port: int = 3100, **kwargs: Any) -> WsiPrinter:
        return cls(lambda: TcpLink(host, port), **kwargs)

    @classmethod
    def serial(
        cls,
        port: str,
        baudrate: int = 9600,
        serial_settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> WsiPrinter:
        """RS-232: ``serial_settings`` go to pyserial (bytesize, parity, stopbits, rtscts...)."""
        settings = dict(serial_settings or {})
        return cls(lambda: SerialLink(port, baudrate, **settings), **kwargs)

    async def connect(self) -> None:
        """Connect, select the message (if configured) and note the counter as the baseline."""
        await self.link.connect()
        if self.message is not None:
            await self._acked([select_message(self.message, self.commands)])
        self._base = (self.loaded, await self.print_count())

    async def _acked(self, commands: list[Command]) -> None:
        """Send the packets in one write; wait for every ack (matched by checksum, in order)."""
        request = b"".join(self._codec.send(c) for c in commands)
        async with self._request(request) as exchange:
            pending = list(commands)
            while pending:
                event = await exchange.next_event()
                if isinstance(event, Nak) and event.checksum == pending[0].checksum:
                    raise DeviceError(f"{self.name}: printer refused {pending[0].code!r} packet")
                if isinstance(event, Ack) and event.checksum == pending[0].checksum:
                    pending.pop(0)
                    continue
                log.debug("%s: skipping stale reply %r", self.name, event)

    async def _requests(self, commands: list[Command]) -> list[DataReply]:
        """Send data requests in one write; collect one data reply per request, in order."""
        parsers: dict[str, Callable[[DataReply], object]] = {
            self.commands.print_count: lambda r: parse_print_count(r, self.commands),
            self.commands.error_status: lambda r: parse_error_status(r, self.commands),
        }
        request = b"".join(self._codec.send(c) for c in commands)
        replies: list[DataReply] = []
        async with self._request(request) as exchange:
            while len(replies) < len(commands):
                wanted = commands[len(replies)]
                event = await exchange.next_event()
                if isinstance(event, Nak) and event.checksum == wanted.checksum:
                    raise DeviceError(f"{self.name}: printer refused {wanted.code!r} request")
                if isinstance(event, DataReply):
                    try:
                        parsers[wanted.code](event)
                    except ValueError:
                        log.debug("%s: skipping unexpected data %r", self.name, event.payload)
                        continue
                    replies.append(event)
                    continue
                log.debug("%s: skipping stale reply %r", self.name, event)
        return replies

    async def print_label(self, label: LogisticLabel) -> None:
        """A case or pallet label: the SSCC (00) into the code field of the selected message
        (which must be a GS1-128 layout) and the text lines into its HRI fields."""
        await self.load(PrintJob(seq=0, data=label.sscc_data, hri=label.hri(), symbology="gs1-128"))

    async def load(self, job: PrintJob) -> None:
        """Fill the HRI fields and then the code field (which queues the print)."""
        if len(job.hri) > len(self.hri_fields):
            raise ValueError(f"job {job.seq}: {len(job.hri)} HRI lines, printer has fields for "
                             f"{len(self.hri_fields)}")  # fmt: skip
        packets = [
            update_user_field(field, line, self.commands)
            for field, line in zip(self.hri_fields, job.hri, strict=False)
        ]
        packets.append(update_user_field(self.code_field, job.data, self.commands))
        await self._acked(packets)
        self.loaded += 1

    async def set_printing(self, on: bool) -> None:
        code = self.commands.print_on if on else self.commands.print_off
        await self._acked([Command(code)])

    async def print_count(self) -> int:
        (reply,) = await self._requests([print_count_request(self.commands)])
        return parse_print_count(reply, self.commands)

    async def status(self) -> PrinterStatus:
        """Counter (GA) and error status (E) in one exchange."""
        count_reply, error_reply = await self._requests(
            [print_count_request(self.commands), error_status_request(self.commands)]
        )
        count = parse_print_count(count_reply, self.commands)
        faults = fault_names(parse_error_status(error_reply, self.commands))
        if self._base is None:
            self._base = (self.loaded, count)
        queued = max(0, (self.loaded - self._base[0]) - (count - self._base[1]))
        return PrinterStatus(ready=not faults, print_count=count, faults=faults, jobs_queued=queued)
