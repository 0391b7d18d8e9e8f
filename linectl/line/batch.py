"""Making a batch the active one: its work order started, its content checks, its tallies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from linectl.config import LineSection, Thresholds
from linectl.ledger import Ledger, LedgerError, SerialState, WorkOrder, WorkOrderStatus
from linectl.line.control import CommandRefused
from linectl.line.verify import CodeContent, Verifier


@dataclass(frozen=True)
class OpenedBatch:
    """A started work order with what the ledger already holds of it."""

    order: WorkOrder
    reject_reasons: dict[str, int]
    states: dict[SerialState, int]


async def open_batch(ledger: Ledger, batch: str, *, user: str) -> OpenedBatch:
    """Load ``batch`` (starting it in the ledger if only created); CommandRefused if not now."""

    def load() -> OpenedBatch:
        order = ledger.get_work_order(batch)
        if order.status is WorkOrderStatus.CREATED:
            order = ledger.start_work_order(batch, actor=user, reason="line start")
        return OpenedBatch(order, ledger.reject_counts(batch), ledger.state_counts(batch))

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
) -> tuple[CodeContent, Verifier]:
    """What every pack of ``order`` must carry, and the verifier that checks it."""
    content = CodeContent(
        line.code_form,
        gtin=order.gtin,
        lot=order.lot,
        expiry=order.expiry,
        domain=line.digital_link_domain,
        allow_day_zero=thresholds.allow_expiry_day_zero,
    )
    verifier = Verifier(content, thresholds.min_grade, issued_to=issued_to, verified=verified)
    return content, verifier
