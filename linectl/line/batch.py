"""Making a batch the active one and ending it: its work order, content checks, tallies, queue."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from drivers.interfaces import DeviceError, Plc, Verdict
from linectl.config import LineSection, Thresholds
from linectl.ledger import (
    Ledger,
    LedgerError,
    SerialState,
    WorkOrder,
    WorkOrderCode,
    WorkOrderStatus,
)
from linectl.lifecycle import EventFactory
from linectl.line.control import CommandRefused
from linectl.line.feeder import Feeder
from linectl.line.outcomes import Outcomes
from linectl.line.packing_link import PackingLink
from linectl.line.packs import PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror, Tally
from linectl.line.verify import CodeContent, Verifier
from standards.gs1.errors import Gs1Error


@functools.lru_cache(maxsize=16)
def overrun_limit(quantity: int, percent: float) -> int:
    """The most good units a work order of ``quantity`` may get: the quantity plus ``percent``
    of it, rounded up to whole packs (decimal arithmetic: 10 % of 30 is 3, not 4). Asked before
    every job the feeder loads: cached, the Decimal arithmetic runs once per work order."""
    return quantity + math.ceil(Decimal(str(percent)) * quantity / 100)


@dataclass(frozen=True)
class OpenedBatch:
    """A started work order with what the ledger already holds of it."""

    order: WorkOrder
    reject_reasons: dict[str, int]
    states: dict[SerialState, int]
    code: WorkOrderCode


async def open_batch(ledger: Ledger, batch: str, *, user: str) -> OpenedBatch:
    """Load ``batch`` (starting it in the ledger if only created); CommandRefused if not now."""

    def load() -> OpenedBatch:
        order = ledger.get_work_order(batch)
        if order.status is WorkOrderStatus.CREATED:
            order = ledger.start_work_order(batch, actor=user, reason="line start")
        return OpenedBatch(
            order,
            ledger.reject_counts(batch),
            ledger.state_counts(batch),
            ledger.markings.code_of(batch),
        )

    try:
        opened = await asyncio.to_thread(load)
    except LedgerError as exc:
        raise CommandRefused(f"batch {batch}: {exc}") from exc
    if opened.order.status is not WorkOrderStatus.STARTED:
        raise CommandRefused(f"batch {batch} is {opened.order.status.value}")
    return opened


def batch_checks(
    line: LineSection,
    thresholds: Thresholds,
    order: WorkOrder,
    *,
    issued_to: Callable[[str], int | None],
    verified: Callable[[str], bool],
    code: WorkOrderCode | None = None,
) -> tuple[CodeContent, Verifier]:
    """What every pack of ``order`` must carry (by its market code profile, if it names one),
    and the verifier that checks it; CommandRefused when the profile cannot be filled in."""
    code = code or WorkOrderCode()
    try:
        profile = line.code_profile(code.code_profile) if code.code_profile else None
        content = CodeContent(
            line.code_form,
            gtin=order.gtin,
            lot=order.lot,
            expiry=order.expiry,
            domain=line.digital_link_domain,
            allow_day_zero=thresholds.allow_expiry_day_zero,
            profile=profile,
            code_fields=code.code_fields,
        )
    except KeyError as exc:
        raise CommandRefused(f"batch {order.batch}: {exc.args[0]}") from None
    except Gs1Error as exc:
        raise CommandRefused(
            f"batch {order.batch}: its code profile {code.code_profile!r} cannot be marked: {exc}"
        ) from None
    verifier = Verifier(content, thresholds.min_grade, issued_to=issued_to, verified=verified)
    return content, verifier


class BatchSwitch:
    """Makes a batch the active one and ends it: the line's part of START and CLOSE_BATCH.

    Activating loads (and starts) the work order, gives the mirror its content checks, the
    tallies what the ledger holds, the feeder its batch and the committer its event factory, and
    asks for a resynchronised print queue. Finishing what is in flight cancels the queue, revokes
    the GOOD verdicts of packs still on the conveyor and scraps all of it with a reason.
    """

    def __init__(
        self,
        ledger: Ledger,
        line: LineSection,
        thresholds: Thresholds,
        plc: Plc,
        mirror: LineMirror,
        tally: Tally,
        packs: PackTable,
        tracker: PrintAhead,
        feeder: Feeder,
        outcomes: Outcomes,
        packing: PackingLink | None,
        *,
        verified: Callable[[str], bool],
    ) -> None:
        self.ledger = ledger
        self.line = line
        self.thresholds = thresholds
        self.plc = plc
        self.mirror = mirror
        self.tally = tally
        self.packs = packs
        self.tracker = tracker
        self.feeder = feeder
        self.outcomes = outcomes
        self.packing = packing
        self.verified = verified

    async def activate(self, batch: str, *, user: str) -> WorkOrder:
        """Make ``batch`` the one the line produces (starting it in the ledger if only created)."""
        m = self.mirror
        if m.batch is not None and m.batch.batch != batch:
            raise CommandRefused(f"batch {m.batch.batch} is active; close it first")
        opened = await open_batch(self.ledger, batch, user=user)
        order = opened.order
        m.content, m.verifier = batch_checks(
            self.line, self.thresholds, order, issued_to=self.feeder.issued.get,
            verified=self.verified, code=opened.code,
        )  # fmt: skip
        await self.outcomes.use(EventFactory(self.line, order))
        m.batch = order
        self.tally.reject_reasons = dict(opened.reject_reasons)
        self.tally.counters["commissioned"] = opened.states.get(SerialState.COMMISSIONED, 0)
        self.tally.counters["scrapped"] = opened.states.get(SerialState.LABEL_SCRAPPED, 0)
        self.tally.pool_available = opened.states.get(SerialState.ALLOCATED, 0)
        self.feeder.activate(batch, m.content)
        if self.packing is not None:
            await self.packing.activate(order)
        self.tracker.ask_resync("batch activated")
        m.changed()
        return order

    def deactivate(self) -> None:
        """No batch any more (after it was closed)."""
        m = self.mirror
        m.batch = m.content = m.verifier = None
        self.feeder.activate(None, None)
        if self.packing is not None:
            self.packing.deactivate()
        self.tracker.ask_resync("batch closed")
        m.changed()

    async def finish_in_flight(self, reason: RejectReason) -> None:
        """Cancel the queue and scrap what is left: jobs and reserve (cancelled), packs on the
        conveyor (``reason``, after turning their GOOD verdicts in the PLC into REJECTs)."""
        cancelled, unused = await self.feeder.cancel_all()
        await self.outcomes.scrap([r.serial for r in cancelled] + unused, RejectReason.CANCELLED)
        left = self.packs.in_order()
        for record in left:
            if record.verdict is Verdict.GOOD:
                with contextlib.suppress(DeviceError):
                    await self.plc.write_verdict(record.seq, Verdict.REJECT, reason.plc_code)
            record.resolved = True
        self.packs.discard(left)
        await self.outcomes.scrap([r.serial for r in left], reason)
        await self.outcomes.flush()
