"""The case-label station: a label printed, its application confirmed, read back.

Used by :mod:`linectl.line.packing_link`; a lost device raises its holding alarm through the
device watch and is waited for (through its reconnect policy) before the step is redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from drivers.interfaces import CodeReader, DeviceError, LabelPrinter, Printer, Reconnecting
from linectl.aggregation.labels import ContainerLabel
from linectl.line.alarms import Alarms
from linectl.line.health import DeviceWatch
from linectl.line.plc_side import ENDED
from linectl.line.state import LineMirror

log = logging.getLogger("linectl.runtime.packing")


@dataclass(frozen=True)
class PackingOptions:
    """Timing of the label flow."""

    confirm_timeout_s: float = 10.0  # the printer's counter must show the label applied
    confirm_poll_s: float = 0.02
    close_timeout_s: float = 60.0  # close-batch waits this long for the queue ahead of it


class LabelStation:
    """The case-label printer and reader as the packer uses them."""

    def __init__(
        self,
        printer: Printer,
        labeller: LabelPrinter,
        reader: CodeReader,
        health: DeviceWatch,
        alarms: Alarms,
        mirror: LineMirror,
        options: PackingOptions,
        doing: Callable[[str], None],
    ) -> None:
        self.printer = printer
        self.labeller = labeller
        self.reader = reader
        self.health = health
        self.alarms = alarms
        self.mirror = mirror
        self.options = options
        self._doing = doing

    async def print_label(self, label: ContainerLabel) -> int:
        """Send the label and wait until the printer's label counter shows it applied (1)."""
        while True:
            try:
                before = (await self.printer.status()).print_count
                # it answers: back now, not once the label is confirmed (that needs the line to
                # move, and a held line would wait for it for ever)
                self.health.back("case_printer")
                await self._send(label)
                confirmed = await self._confirmed(label, before)
            except DeviceError as exc:
                await self._lost("case_printer", self.printer, exc)
                continue
            break
        self.health.back("case_printer")
        if not confirmed:
            log.warning("packing: label of %s not confirmed; reading anyway", label.sscc)
        return 1

    async def _send(self, label: ContainerLabel) -> None:
        await self.labeller.print_label(label)

    async def _confirmed(self, label: ContainerLabel, before: int) -> bool:
        """Whether the label counter moved past ``before``. A line standing (held, suspended)
        is waited for, with alarm ``label-unconfirmed`` after ``confirm_timeout_s``: its case
        fills when the line moves again. A line that has ended is not: False after the time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.confirm_timeout_s
        poll = self.options.confirm_poll_s
        while True:
            count = (await self.printer.status()).print_count
            self.health.back("case_printer")
            if count > before:
                self.alarms.clear("label-unconfirmed")
                return True
            if loop.time() >= deadline:
                if self.mirror.plc_state in ENDED:
                    return False
                poll = max(poll, 0.25)
                self.alarms.raise_(
                    "label-unconfirmed",
                    f"the label of {label.level} {label.sscc} is not on its container "
                    f"after {self.options.confirm_timeout_s:.0f} s (the case-label printer's "
                    "counter did not move): waiting",
                    holds=False,
                )
            await asyncio.sleep(poll)

    async def read(self) -> str | None:
        """One read of the label in front of the case-label reader (with its symbology id)."""
        while True:
            try:
                result = await self.reader.read()
            except DeviceError as exc:
                await self._lost("case_reader", self.reader, exc)
                continue
            self.health.back("case_reader")
            if result.text is None:
                return None
            return (result.detail.get("symbology_id") or "") + result.text

    async def _lost(self, role: str, device: object, exc: DeviceError) -> None:
        """A case-label device failed: alarm (holds the line), then wait until it answers."""
        self.health.lost(role, exc)
        self._doing(f"waiting for the {role.replace('_', ' ')}: {exc}")
        if isinstance(device, Reconnecting):
            with contextlib.suppress(DeviceError):
                await device.wait_connected()
        await asyncio.sleep(0.5)  # a device that answers but fails: not a busy loop
