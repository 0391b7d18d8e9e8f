"""A batch's serials against the pool manager: its provisioner, and the unused ones going back.

- :func:`provisioner_for`: the :class:`SerialProvisioner` of a work order (GTIN, lot, the
  configured market, collection and format). Its pages land in the ledger as Allocated; a page
  that arrives after the batch was closed (close-batch during a refill) goes straight back to the
  pool manager, so no serial is ever issued to the line without being in its ledger or returned.
- :func:`pending_returns` and :func:`return_batch`: a closed batch whose pool still holds
  Allocated serials has serials to give back. They go with ``SNReturnAllocated`` in chunks of at
  most MaxSNReturnable, and each chunk becomes Unallocated (returned) in the ledger only once
  the pool manager has confirmed it: a link lost half-way leaves the rest Allocated, to go back
  on the next attempt (a serial returned twice is still one return).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from linectl.config import ProvisioningSection
from linectl.ledger import Ledger, SerialState, WorkOrder, WorkOrderStateError, WorkOrderStatus
from linectl.lifecycle import return_unused
from linectl.upstream.ledger_link import LedgerSerialSink
from linectl.upstream.pool_client import PoolManagerClient, Selection
from linectl.upstream.pool_errors import ProvisioningError
from linectl.upstream.provisioning import SerialProvisioner

log = logging.getLogger("linectl.upstream.provisioning")

RETURN_REASON = "returned to the site pool manager (SNReturnAllocated)"


class BatchClosedDuringRefill(ProvisioningError):
    """A refill page arrived after its batch was closed; the page went back upstream."""


@dataclass(frozen=True)
class PendingReturn:
    """The unused (Allocated) serials of one closed batch."""

    batch: str
    gtin: str
    lot: str
    serials: tuple[str, ...]


def selection_for(section: ProvisioningSection, gtin: str, lot: str) -> Selection:
    """Which serials a batch asks for and gives back (collection by GTIN, if configured)."""
    return Selection(
        section.collections.get(gtin, ""), gtin, lot, section.market, section.sn_format
    )


class _BatchSink:
    """The ledger's pool; a page for a batch closed meanwhile goes back to the pool manager."""

    def __init__(self, ledger: Ledger, client: PoolManagerClient, selection: Selection) -> None:
        self.ledger_sink = LedgerSerialSink(ledger)
        self.client = client
        self.selection = selection

    async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
        try:
            await self.ledger_sink.add_serials(batch, gtin, serials)
        except WorkOrderStateError as exc:
            log.warning("batch %s closed during a refill: %d serials go back", batch, len(serials))
            try:
                await self.client.return_serials(serials, self.selection)
            except ProvisioningError as lost:
                log.error(
                    "%d serials issued for batch %s after it closed could not be returned: %s",
                    len(serials),
                    batch,
                    lost,
                )
            raise BatchClosedDuringRefill(f"batch {batch}: {exc}") from exc


def provisioner_for(
    client: PoolManagerClient, ledger: Ledger, section: ProvisioningSection, order: WorkOrder
) -> SerialProvisioner:
    """The provisioner that refills ``order``'s pool in the ledger."""
    selection = selection_for(section, order.gtin, order.lot)
    return SerialProvisioner(
        client,
        _BatchSink(ledger, client, selection),
        batch=order.batch,
        gtin=order.gtin,
        lot=order.lot,
        market=section.market,
        collection_id=selection.collection_id,
        sn_format=section.sn_format,
    )


def pending_returns(ledger: Ledger) -> list[PendingReturn]:
    """Closed batches that still hold Allocated serials, oldest batch first (blocking)."""
    pending = []
    for order in ledger.list_work_orders(WorkOrderStatus.CLOSED):
        serials = ledger.list_serials(order.batch, SerialState.ALLOCATED)
        if serials:
            pending.append(PendingReturn(order.batch, order.gtin, order.lot, tuple(serials)))
    return pending


async def return_batch(
    client: PoolManagerClient,
    ledger: Ledger,
    section: ProvisioningSection,
    pending: PendingReturn,
    *,
    actor: str = "provisioning",
) -> int:
    """Give ``pending``'s serials back, chunk by chunk, recording each chunk; returns how many.

    Raises :class:`~linectl.upstream.provisioning.PoolUnavailable` when the link is down (what
    went back before stays recorded) and ``PoolRefused`` when the pool manager refuses them.
    """
    selection = selection_for(section, pending.gtin, pending.lot)
    limits = await client.connect()
    size = max(1, limits.max_returnable)
    done = 0
    for start in range(0, len(pending.serials), size):
        chunk = pending.serials[start : start + size]
        await client.return_serials(chunk, selection)
        await asyncio.to_thread(
            return_unused, ledger, pending.batch, actor=actor, reason=RETURN_REASON, serials=chunk
        )
        done += len(chunk)
    log.info("batch %s: %d unused serials returned to the pool manager", pending.batch, done)
    return done
