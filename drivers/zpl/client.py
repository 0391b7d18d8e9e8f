"""ZplPrinter: a Zebra ZPL II printer over raw TCP (port 9100) as a drivers.interfaces.Printer.

``load(job)`` sends one label format (ZPL has no acknowledgement; the format is confirmed when
``status()`` sees it leave the receive buffer and the label counter move). ``status()`` sends
``~HS`` and ``! U1 getvar "odometer.total_label_count"`` in one write and reads both replies.
``clear()`` sends ``~JA`` (cancel all formats waiting in the receive buffer) and confirms it with
a ``~HS`` that must report an empty buffer.

With ``rfid=True`` (a printer with an RFID encoder, ``[devices.NAME.options] rfid = true``) every
job's EPC is encoded into its label's tag, written and read back (:mod:`drivers.zpl.rfid`); the
printer returns each label's read-back unasked, and :meth:`ZplPrinter.encode_outcomes` hands over
those that came in with any reply since the last call.
"""

from __future__ import annotations

import logging

from drivers.interfaces import (
    DeviceError,
    DeviceUnavailable,
    EncodeOutcome,
    LogisticLabel,
    PrinterStatus,
    PrintJob,
)
from drivers.links import TcpLink
from drivers.printer_link import PrinterLink
from drivers.reconnect import ReconnectPolicy
from drivers.zpl.codec import (
    LABEL_COUNT_VAR,
    HostStatusRequest,
    SgdCommand,
    SgdValue,
    ZplHostConnection,
)
from drivers.zpl.labelformat import build_label
from drivers.zpl.layout import LabelLayouts, logistic_label_zpl, shipped_layouts
from drivers.zpl.status import HostStatus

log = logging.getLogger("linectl.devices.zpl")


class _ReadBackLink(TcpLink):
    """The printer's TCP connection; stale input is searched for RFID read-backs before it goes
    (they come unasked, mostly between two requests)."""

    def __init__(self, host: str, port: int, codec: ZplHostConnection) -> None:
        super().__init__(host, port)
        self._codec = codec

    async def discard_input(self) -> None:
        rx = self._rx
        if rx is not None and rx.buffer:
            self._codec.salvage(bytes(rx.buffer))
        await super().discard_input()


class ZplPrinter(PrinterLink[HostStatus | SgdValue]):
    """A Zebra printer reached over TCP; one request at a time, reconnecting per the policy.

    Offers: Printer, LabelPrinter (logistic labels), ClearablePrinter (``~JA``), RfidPrinter
    (tags encoded only with ``rfid=True``), Reconnecting.
    Unit, case and pallet labels are laid out by ``layouts`` (default: the shipped ones).
    """

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        name: str = "zpl-printer",
        policy: ReconnectPolicy | None = None,
        connect_timeout: float = 3.0,
        reply_timeout: float = 2.0,
        layouts: LabelLayouts | None = None,
        rfid: bool = False,
    ) -> None:
        self._codec = codec = ZplHostConnection()
        super().__init__(
            name,
            lambda: _ReadBackLink(host, port, codec),
            self._codec,
            policy=policy,
            connect_timeout=connect_timeout,
            reply_timeout=reply_timeout,
        )
        self.layouts = layouts or shipped_layouts()
        self.cancelled = 0  # formats discarded by clear()
        self.last_host_status: HostStatus | None = None
        self._rfid = rfid

    @property
    def encodes_rfid(self) -> bool:
        """Whether this printer encodes each job's EPC into its label's tag (option ``rfid``)."""
        return self._rfid

    def encode_outcomes(self) -> list[EncodeOutcome]:
        """The read-backs the printer returned since the last call, in print order."""
        taken = self._codec.readbacks
        self._codec.readbacks = []
        return [EncodeOutcome(r.seq, r.epc or None) for r in taken]

    async def print_label(self, label: LogisticLabel) -> None:
        """Send a case or pallet label as one ZPL format (both codes and the text lines)."""
        await self._write(logistic_label_zpl(label, self.layouts.for_label(label)))
        self.loaded += 1

    async def load(self, job: PrintJob) -> None:
        """Send the job's label format; ValueError if the job cannot be expressed in ZPL, or its
        EPC does not fit the printer (an EPC without ``rfid``, none with it)."""
        if (job.epc is not None) != self._rfid:
            raise ValueError(
                f"{self.name}: job {job.seq} "
                + ("has an EPC, but the printer has no RFID option" if job.epc is not None
                   else "has no EPC for the label's tag (the printer encodes RFID)")
            )  # fmt: skip
        await self._write(build_label(job, self.layouts))
        self.loaded += 1

    async def clear(self) -> None:
        """Cancel every label format still queued (``~JA``); DeviceError if some remain.

        Sent as ``~HS~JA~HS`` in one write: the printer handles its input in order, so the first
        reply counts the formats the cancel discards (kept out of the fallback print count) and
        the second must report an empty buffer.
        """
        request = self._codec.send(HostStatusRequest()) + b"~JA"
        request += self._codec.send(HostStatusRequest())
        async with self._request(request) as exchange:
            replies: list[HostStatus] = []
            while len(replies) < 2:
                event = await exchange.next_event()
                if isinstance(event, HostStatus):
                    replies.append(event)
        before, after = replies
        self.cancelled += before.formats_in_buffer
        self.last_host_status = after
        if after.formats_in_buffer:
            raise DeviceError(
                f"{self.name}: {after.formats_in_buffer} formats still queued after ~JA"
            )

    async def _query(self, with_count: bool) -> tuple[HostStatus, SgdValue | None]:
        request = self._codec.send(HostStatusRequest())
        if with_count:
            request += self._codec.send(SgdCommand("getvar", LABEL_COUNT_VAR))
        try:
            async with self._request(request) as exchange:
                status: HostStatus | None = None
                while status is None:
                    event = await exchange.next_event()
                    if isinstance(event, HostStatus):
                        status = event
                    else:
                        log.debug("%s: dropping stale SGD value %r", self.name, event.value)
                value: SgdValue | None = None
                while with_count and value is None:
                    event = await exchange.next_event()
                    value = event if isinstance(event, SgdValue) else None
        except DeviceUnavailable as exc:
            if "no reply" in str(exc):
                raise DeviceUnavailable(
                    f"{self.name}: no ~HS reply (printer off-line, or in media out, ribbon out "
                    "or head open: newer firmware withholds ~HS then)"
                ) from exc
            raise
        self.last_host_status = status
        return status, value

    async def host_status(self) -> HostStatus:
        """Only ``~HS``: every flag the printer reports."""
        status, _ = await self._query(with_count=False)
        return status

    async def status(self) -> PrinterStatus:
        """Ready/faults/formats queued from ``~HS``; print count from the label odometer."""
        hs, value = await self._query(with_count=True)
        if value is not None and value.value.isdigit():
            count = int(value.value)
        else:  # "?" : firmware without the odometer variable; count what left the buffer
            count = max(0, self.loaded - self.cancelled - hs.formats_in_buffer)
        return PrinterStatus(
            ready=hs.ready, print_count=count, faults=hs.faults, jobs_queued=hs.formats_in_buffer
        )
