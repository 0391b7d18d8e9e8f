"""Serial provisioning for the daemon: one batch's pool kept filled from an OPEN-SCS pool manager.

:class:`SerialProvisioner` is what the daemon uses: ``refill(n)`` when the local pool falls below
its low-water mark, ``return_unused(serials)`` at batch close; it talks through a
:class:`~linectl.upstream.pool_client.PoolManagerClient`. Every page is handed to the
:class:`SerialSink` (the ledger) as soon as it arrives, before the next page is asked for, so a
crash mid-request loses at most serials the pool manager never reissues anyway.

Retries: a lost connection is retried after a capped, jittered backoff (a repeated
``RequestToken`` replays the same page, so a lost answer costs nothing; a lost answer to the first
call of a request costs that page, which the pool manager never reissues). An expired token
(InvalidRequestToken5) starts a new request for the remainder. The statuses that retrying cannot
fix (wrong collection, format, selection criteria, privilege) raise
:class:`~linectl.upstream.pool_errors.PoolRefused` with a message that names the configuration key
to check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from linectl.upstream.pool_client import PoolManagerClient, Selection
from linectl.upstream.pool_errors import PoolExhausted, PoolProtocolError
from standards.openscs import ReturnStatus

log = logging.getLogger("linectl.upstream.provisioning")

#: an expired RequestToken restarts the request for the remainder at most this often in a row
_MAX_TOKEN_RESTARTS = 3


class SerialSink(Protocol):
    """Where provisioned serials go, durably, before more are asked for (the ledger's pool)."""

    async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
        """Store ``serials`` as Allocated to ``batch`` (GTIN ``gtin``); raise if not stored."""


class SerialProvisioner:
    """Keeps one batch's serial pool filled from the pool manager, for the daemon."""

    def __init__(
        self,
        client: PoolManagerClient,
        sink: SerialSink,
        *,
        batch: str,
        gtin: str,
        lot: str | None = None,
        market: str | None = None,
        collection_id: str = "",
        sn_format: str = "SERIALONLY",
    ) -> None:
        self.client, self.sink = client, sink
        self.batch, self.gtin = batch, gtin
        self.selection = Selection(collection_id, gtin, lot, market, sn_format)
        self.received = 0
        self.exhausted = False
        self._refilling = asyncio.Lock()

    async def refill(self, n: int) -> int:
        """Ask for ``n`` serials (several requests if n > MaxSNRequestable); return how many came.

        Raises :class:`PoolExhausted` when the collection had none at all, :class:`PoolRefused`
        for a configuration problem, :class:`PoolUnavailable` when the link stays down.
        """
        if n <= 0:
            return 0
        async with self._refilling:  # one refill at a time: the daemon may ask twice
            got = 0
            restarts = 0
            while got < n:
                limits = await self.client.connect()
                want = min(n - got, limits.max_requestable)
                result = await self.client.request(want, self.selection, on_page=self._store)
                got += len(result.serials)
                if result.collection_id and not self.selection.collection_id:
                    # the server chose by criteria: keep asking (and returning) to the same one
                    self.selection = _with_collection(self.selection, result.collection_id)
                if result.short or not result.serials:
                    self.exhausted = True
                    if got == 0:
                        raise PoolExhausted(
                            "SNRequestAllocated",
                            ReturnStatus.InsufficientSerialNumbers3,
                            f"no serials left for GTIN {self.gtin}",
                        )
                    log.warning("pool for GTIN %s is short: got %d of %d", self.gtin, got, n)
                    break
                if result.interrupted:
                    restarts += 1
                    if restarts > _MAX_TOKEN_RESTARTS:
                        raise PoolProtocolError(
                            f"request tokens expired {restarts} times in a row for GTIN {self.gtin}"
                        )
                else:
                    restarts = 0
            return got

    async def _store(self, serials: list[str]) -> None:
        await self.sink.add_serials(self.batch, self.gtin, serials)
        self.received += len(serials)

    async def return_unused(self, serials: Sequence[str]) -> int:
        """Give the batch's unused serials back with SNReturnAllocated (idempotent upstream)."""
        return await self.client.return_serials(serials, self.selection)


def _with_collection(selection: Selection, collection_id: str) -> Selection:
    return Selection(
        collection_id, selection.gtin, selection.lot, selection.market, selection.sn_format
    )
