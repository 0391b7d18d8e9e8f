"""Case packing on the running line: good units into cases, labels printed, read back, verified.

With ``[aggregation]`` in the configuration, :class:`PackingLink` joins
:class:`linectl.aggregation.PackingService` to the runtime. One worker task (``linectl
packing``) does everything in order and calls the ledger in a thread, so the pack pipeline
only ever appends to its queue:

- Batch activation: a PackingService on the SSCC source (``[upstream.sscc]`` range, or the
  ``[aggregation] sscc_stock`` file), ``resume()``; every case or pallet closed but not
  verified gets its label again (the divert decision is not kept across a restart); good
  units committed but never packed (the daemon died between their commit and their packing)
  are packed first: Commissioned, in no case, after the last unit packed by seq.
- Every group of outcomes the committer made durable: its GOOD units, in line order, to
  ``add_units``.
- Every case or pallet that closes: its label goes to the case-label printer (the full ZPL
  label on a Zebra, the generic PrintJob otherwise); the printer's label counter confirms the
  label is on the container (waited for while the line stands: its case fills when it moves;
  alarm ``label-unconfirmed`` after ``confirm_timeout_s``); the case-label reader reads it;
  ``verify_label`` decides. A failed read is reprinted, alarm ``case-label``; after
  ``label_attempts`` failed reads the container is diverted for rework, alarm
  ``case-diverted``. None of these holds the line.
- With ``[aggregation] case_check = "camera"``: once a case's label is on, the case is checked
  against its case-camera frame (:mod:`linectl.line.case_camera`) before the label is read;
  a rejected case is not read nor stacked: it is diverted for rework, alarm ``case-diverted``.
- Close-batch: the partial case and pallet are closed, labelled and verified, then the orphan
  policy is applied; the command waits for the queue ahead of it.

A lost case-label device holds the line, like any device; the worker waits for it to answer
again and redoes the print or read. A ledger failure in packing holds the line (``packing``);
after the operator's Unhold the worker takes up again from the ledger (``resume``, catch-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.interfaces import LabelPrinter
from linectl.aggregation.labels import ContainerLabel
from linectl.aggregation.packing import ClosedContainer, LabelOutcome, PackingService, PackingStatus
from linectl.aggregation.rework import Rework
from linectl.aggregation.sscc_source import SsccSource, SsccUnavailable, sscc_source_for
from linectl.config import CaseCheckMode, LineConfig, SsccSection
from linectl.ledger import (
    ContainerError,
    ContainerLevel,
    Ledger,
    LedgerError,
    WorkOrder,
)
from linectl.ledger.hierarchy import batch_containers
from linectl.lifecycle import EventFactory
from linectl.line.alarms import Alarms
from linectl.line.case_camera import CaseCamera, CaseChecks
from linectl.line.case_labels import LabelStation, PackingOptions
from linectl.line.control import CommandRefused
from linectl.line.devices import DeviceSetupError, LineDevices
from linectl.line.health import DeviceWatch
from linectl.line.packs import unit_good
from linectl.line.state import LineMirror
from linectl.line.supervisor import Supervisor

if TYPE_CHECKING:
    from linectl.ledger import UnitResult

log = logging.getLogger("linectl.runtime.packing")

PACKING_ERRORS = (LedgerError, SsccUnavailable)
"""What packing may fail with on purpose (ContainerError is a LedgerError)."""


@dataclass
class _Units:
    """GOOD units made durable, in line order: (seq, serial)."""

    units: list[tuple[int, str]]


@dataclass
class _Job:
    """A step of the worker's own (resync, close-batch); ``done`` gets its result if awaited."""

    run: Callable[[], Coroutine[Any, Any, Any]]
    done: asyncio.Future[Any] | None = None


class PackingLink:
    """The line's case packer and labeller (see the module docstring)."""

    def __init__(
        self,
        config: LineConfig,
        ledger: Ledger,
        devices: LineDevices,
        alarms: Alarms,
        health: DeviceWatch,
        mirror: LineMirror,
        supervisor: Supervisor,
        *,
        options: PackingOptions | None = None,
        actor: str = "line",
    ) -> None:
        section = config.aggregation
        if section is None:
            raise DeviceSetupError("case packing needs [aggregation] in the configuration")
        self.config = config
        self.ledger = ledger
        self.alarms = alarms
        self.health = health
        self.mirror = mirror
        self.supervisor = supervisor
        self.section = section
        self.settings = section.settings(actor=actor)
        self.options = options or PackingOptions()
        printer, reader = devices.case_printer, devices.case_reader
        if printer is None or reader is None:
            raise DeviceSetupError(
                '[aggregation] needs a case-label printer and reader (options.role = "case-label")'
            )
        if not isinstance(printer, LabelPrinter):
            raise DeviceSetupError(
                f"the case-label printer ({type(printer).__name__}) cannot print logistic labels"
            )
        self.station = LabelStation(
            printer, printer, reader, health, alarms, mirror, self.options, self._set_doing
        )
        self.checks: CaseChecks | None = None
        if section.case_check is CaseCheckMode.CAMERA:
            if devices.case_camera is None:
                raise DeviceSetupError('case_check = "camera" needs a case camera')
            camera = CaseCamera(devices.case_camera, health)
            timeout = section.case_frame_timeout_s
            self.checks = CaseChecks(camera, alarms, timeout, self._set_doing)
        upstream = config.upstream
        stock = section.sscc_stock
        if stock is not None and not stock.is_absolute():
            stock = config.ledger.path.parent / stock
        try:
            self.source: SsccSource = sscc_source_for(
                ledger, upstream.sscc if upstream is not None else SsccSection(), stock
            )
        except ValueError as exc:
            raise DeviceSetupError(f"aggregation: {exc}") from None
        self.service: PackingService | None = None
        self.batch: str | None = None
        self.view: PackingStatus | None = None
        self.doing = "idle"
        self.counters = dict.fromkeys(
            (
                "cases_closed",
                "pallets_closed",
                "labels_printed",
                "labels_accepted",
                "label_reprints",
                "diversions",
            ),
            0,
        )
        self._items: deque[_Units | _Job] = deque()
        self._wake = asyncio.Event()
        self._started = False
        self._trouble: str | None = None
        self._caught_up: set[str] = set()

    @classmethod
    def for_line(
        cls,
        config: LineConfig,
        ledger: Ledger,
        devices: LineDevices,
        alarms: Alarms,
        health: DeviceWatch,
        mirror: LineMirror,
        supervisor: Supervisor,
    ) -> PackingLink | None:
        """The packing link of a line configured with ``[aggregation]``; None otherwise."""
        if config.aggregation is None:
            return None
        return cls(config, ledger, devices, alarms, health, mirror, supervisor)

    # -- the runtime's calls ---------------------------------------------------------------------

    async def activate(self, order: WorkOrder) -> None:
        """Pack ``order``'s batch from now on (its catch-up runs first, in the worker)."""
        if self.service is not None and self.batch == order.batch:
            return
        factory = EventFactory(self.config.line, order)
        self.service = PackingService(self.ledger, factory, self.source, self.settings)
        self.batch, self.view = order.batch, None
        self._items.clear()
        self._push(_Job(self._resync))
        if not self._started:
            self._started = True
            self.supervisor.spawn(self.run(), "packing")
            if self.checks is not None:
                self.supervisor.spawn(self.checks.camera.run(), "packing case camera")
                self.supervisor.spawn(self.checks.camera.watch(), "packing case camera watch")

    def deactivate(self) -> None:
        """No batch any more (it was closed)."""
        self.service = self.batch = self.view = None
        self._items.clear()
        self.alarms.clear("case-diverted")
        self.alarms.clear("case-label")

    def committed(self, units: Sequence[UnitResult]) -> None:
        """A group of pack outcomes is durable: its GOOD units go to the packer, in line order."""
        if self.service is None:
            return
        good = [(u.seq, u.serial) for u in units if unit_good(u.verdict)]
        if not good:
            return
        last = self._items[-1] if self._items else None
        if isinstance(last, _Units):
            last.units.extend(good)
            self._wake.set()
        else:
            self._push(_Units(good))

    async def settled(self) -> None:
        """Wait until everything queued so far is packed and labelled (or failed)."""

        async def nothing() -> None:
            return None

        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(_Job(nothing, done))
        await done

    async def close_batch(self, *, user: str, reason: str) -> dict[str, Any]:
        """At batch end: partial case and pallet closed and labelled, orphans handled."""
        if self.service is None:
            return {}
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._push(_Job(lambda: self._close_batch(user, reason), done))
        try:
            async with asyncio.timeout(self.options.close_timeout_s):
                return await done
        except TimeoutError:
            raise CommandRefused(
                f"packing did not get to the batch end within {self.options.close_timeout_s:.0f}"
                f" s (it is {self.doing}); try again"
            ) from None

    def status(self) -> dict[str, Any]:
        """The packer's part of the status document (JSON-ready)."""
        view = self.view
        queued = sum(len(item.units) for item in self._items if isinstance(item, _Units))
        return {
            "batch": self.batch,
            "case": view.case if view else None,
            "case_units": view.case_units if view else 0,
            "case_size": self.settings.case_size,
            "pallet": view.pallet if view else None,
            "pallet_cases": view.pallet_cases if view else 0,
            "pallet_size": self.settings.pallet_size,
            "awaiting_label": list(view.awaiting_label) if view else [],
            "diverted": list(view.diverted) if view else [],
            "rejected": {k: list(v) for k, v in view.rejected.items()} if view else {},
            "case_check": self.section.case_check.value,
            "cases_checked": self.checks.checked if self.checks else 0,
            "cases_rejected": self.checks.rejected if self.checks else 0,
            "units_queued": queued,
            "doing": self.doing,
        } | self.counters

    def _set_doing(self, what: str) -> None:
        self.doing = what

    # -- the worker ------------------------------------------------------------------------------

    def _push(self, item: _Units | _Job) -> None:
        self._items.append(item)
        self._wake.set()

    async def run(self) -> None:
        """The ``packing`` task: queue items in order, forever."""
        while True:
            if self._trouble is not None:
                await self._hold(self._trouble)
                self._trouble = None
                self._items.appendleft(_Job(self._resync))
            while not self._items:
                self.doing = "idle"
                self._wake.clear()
                await self._wake.wait()
            item = self._items.popleft()
            if isinstance(item, _Units):
                await self._pack(item.units)
                continue
            if item.done is None:
                await item.run()
                continue
            if item.done.done():
                continue  # the command gave up waiting for it
            try:
                result = await item.run()
            except Exception as exc:
                if not item.done.done():
                    item.done.set_exception(exc)
            else:
                if not item.done.done():
                    item.done.set_result(result)

    async def _hold(self, trouble: str) -> None:
        """Hold the line until an operator's Unhold acknowledges the packing failure."""
        self.doing = f"held: {trouble}"
        self.alarms.raise_("packing", f"case packing failed: {trouble}", holds=True)
        await self.mirror.wait_for(lambda: not self.alarms.active("packing"))

    def _failed(self, what: str, exc: Exception) -> None:
        log.error("packing: %s failed: %s", what, exc)
        self._trouble = f"{what}: {exc}"

    async def _resync(self) -> None:
        """Take up the batch from the ledger: labels not yet verified, units not yet packed."""
        service, batch = self.service, self.batch
        if service is None or batch is None:
            return
        self.doing = "resuming from the ledger"

        def load() -> tuple[list[ContainerLabel], list[tuple[int, str]], PackingStatus]:
            view = service.resume()
            waiting = sorted(
                (self.ledger.containers.get(sscc) for sscc in view.awaiting_label),
                key=lambda c: (c.updated_at, c.sscc),
            )
            labels = [service.label(c.sscc) for c in waiting]
            units = self.ledger.unpacked_after_last_case(batch)
            return labels, units, view

        # units queued so far are durable, so the catch-up below finds them
        self._items = deque(i for i in self._items if not isinstance(i, _Units))
        try:
            labels, units, self.view = await asyncio.to_thread(load)
        except PACKING_ERRORS as exc:
            self._failed("resuming packing from the ledger", exc)
            return
        if labels or units:
            log.info(
                "packing resumes batch %s: %d labels to verify, %d units to pack",
                batch,
                len(labels),
                len(units),
            )
        for label in labels:
            await self._label(label)
            if self._trouble is not None:
                return
        self._caught_up = {serial for _, serial in units}
        await self._pack(units, fresh=False)

    async def _pack(self, units: list[tuple[int, str]], *, fresh: bool = True) -> None:
        """Units into cases; every case this closes is labelled and verified."""
        service = self.service
        if service is None:
            return
        if fresh and self._caught_up:
            units = [(seq, s) for seq, s in units if s not in self._caught_up]
        if not units:
            return
        self.doing = f"packing {len(units)} units"
        serials = [serial for _, serial in units]

        def add() -> tuple[list[ClosedContainer], PackingStatus]:
            return service.add_units(serials), service.status()

        try:
            closed, self.view = await asyncio.to_thread(add)
        except PACKING_ERRORS as exc:
            self._failed(f"packing units of seq {units[0][0]}..{units[-1][0]}", exc)
            return
        for container in closed:
            self.counters["cases_closed"] += 1
            await self._label(container.label)
            if self._trouble is not None:
                return

    async def _close_batch(self, user: str, reason: str) -> dict[str, Any]:
        service, batch = self.service, self.batch
        if service is None or batch is None:
            return {}
        self.doing = "closing the batch's last case and pallet"
        try:
            case = await asyncio.to_thread(
                service.close_case, actor=user, reason=f"batch end: partial case ({reason})"
            )
            if case is not None:
                self.counters["cases_closed"] += 1
                await self._label(case.label)
            if self._trouble is None:
                pallet = await asyncio.to_thread(
                    service.close_pallet, actor=user, reason=f"batch end: partial pallet ({reason})"
                )
                if pallet is not None:
                    self.counters["pallets_closed"] += 1
                    await self._label(pallet.label)
            if self._trouble is not None:
                raise CommandRefused(f"packing at batch end: {self._trouble}")
            rework = Rework(self.ledger, self.config.line)
            report = await asyncio.to_thread(
                rework.handle_orphans,
                batch,
                self.settings.orphan_policy,
                actor=user,
                reason=f"orphans at batch end ({reason})",
            )
            counts = await asyncio.to_thread(self.ledger.containers.read, batch_containers, batch)
            self.view = await asyncio.to_thread(service.status)
        except PACKING_ERRORS as exc:
            raise CommandRefused(f"packing at batch end: {exc}") from exc
        levels = [c.level for c in counts]
        return {
            "cases": levels.count(ContainerLevel.CASE.value),
            "pallets": levels.count(ContainerLevel.PALLET.value),
            "orphans": len(report.serials),
            "orphan_policy": report.policy.value,
            "awaiting_label": list(self.view.awaiting_label),
            "diverted": list(self.view.diverted),
        }

    # -- labels ----------------------------------------------------------------------------------

    async def _label(self, label: ContainerLabel) -> None:
        """Print, read back and verify until accepted or diverted; then a pallet it filled."""
        service = self.service
        if service is None:
            return
        sscc, what = label.sscc, f"{label.level} {label.sscc}"

        def verify(read: str | None) -> tuple[LabelOutcome, PackingStatus]:
            return service.verify_label(sscc, read), service.status()

        checked = self.checks is None or label.level != ContainerLevel.CASE
        while True:
            self.doing = f"labelling {what}"
            self.counters["labels_printed"] += await self.station.print_label(label)
            if not checked:
                checked = True
                if not await self._case_check(service, sscc):
                    return
            read = await self.station.read()
            try:
                outcome, self.view = await asyncio.to_thread(verify, read)
            except ContainerError as exc:  # reopened by rework meanwhile: its label waits
                log.warning("packing: label of %s not verified: %s", what, exc)
                return
            except PACKING_ERRORS as exc:
                self._failed(f"verifying the label of {what}", exc)
                return
            if outcome.accepted:
                self.counters["labels_accepted"] += 1
                self.alarms.clear("case-label")
                break
            if outcome.action == "reprint":
                self.counters["label_reprints"] += 1
                self.alarms.raise_(
                    "case-label",
                    f"label of {what} failed verification ({outcome.check.reason}): reprinting "
                    f"({outcome.attempts} of {self.settings.label_attempts} attempts used)",
                    holds=False,
                )
                continue
            self.counters["diversions"] += 1
            self.alarms.clear("case-label")
            diverted = self.view.diverted if self.view else (sscc,)
            self.alarms.raise_(
                "case-diverted",
                f"{what} diverted after {outcome.attempts} failed label reads (last: "
                f"{outcome.check.reason}); to rework: {', '.join(diverted)}",
                holds=False,
            )
            return
        if outcome.closed_pallet is not None:
            self.counters["pallets_closed"] += 1
            await self._label(outcome.closed_pallet.label)

    async def _case_check(self, service: PackingService, sscc: str) -> bool:
        """The case against its case-camera frame: True to go on to its label read."""
        assert self.checks is not None
        try:
            check, self.view = await self.checks.check(service, sscc)
        except ContainerError as exc:  # reopened (or reworked) by rework meanwhile
            self.alarms.raise_(  # (the alarm is logged)
                "case-diverted",
                f"case {sscc} was not checked against its frame ({exc}); to rework: {sscc}",
                holds=False,
            )
            return False
        except PACKING_ERRORS as exc:
            self._failed(f"checking case {sscc} against its frame", exc)
            return False
        if not check.accepted:
            self.counters["diversions"] += 1
        self.mirror.changed()
        return check.accepted
