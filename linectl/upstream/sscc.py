"""SSCCs for the cases and pallets the line packs: from the pool manager, or from a fixed range.

Two sources, one :class:`SsccProvisioner`:

- ``central``: the pool manager's SSCC collection (``SNRequestAllocated`` with that collection's
  ID, SERIALONLY format: each serial is the 18-digit SSCC); every SSCC received is checked (18
  digits, check digit, and the company prefix when one is configured).
- ``range``: a serial-reference range of the company prefix reserved for this line (extension
  digit, first and last reference). The next references follow the highest SSCC of the range the
  ledger already holds, so a restart never issues one twice; the range running out is an error.

Either way the SSCCs go to the :class:`SsccSink` (the ledger) before the refill returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from linectl.config.sscc_range import SsccRange
from linectl.upstream.pool_client import PoolManagerClient, Selection
from linectl.upstream.pool_errors import PoolExhausted, PoolProtocolError
from standards.gs1.checkdigit import CheckDigitError, validate_sscc
from standards.openscs import ReturnStatus


class SsccSink(Protocol):
    """Where new SSCCs go, durably (the ledger's container identifiers)."""

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        """Store ``ssccs`` as available for new cases and pallets; raise if not stored."""


HighestIssued = Callable[[], Awaitable[str | None]]


class SsccProvisioner:
    """Refills the line's stock of SSCCs from the pool manager or from a configured range."""

    def __init__(
        self,
        sink: SsccSink,
        *,
        client: PoolManagerClient | None = None,
        collection_id: str = "",
        company_prefix: str | None = None,
        sscc_range: SsccRange | None = None,
        highest_issued: HighestIssued | None = None,
    ) -> None:
        if (client is None) == (sscc_range is None):
            raise ValueError("give either a pool-manager client or an SSCC range")
        if sscc_range is not None and highest_issued is None:
            raise ValueError("an SSCC range needs highest_issued (the ledger's last SSCC)")
        self.sink = sink
        self.client = client
        self.selection = Selection(collection_id=collection_id)
        self.company_prefix = company_prefix or (sscc_range.company_prefix if sscc_range else None)
        self.range = sscc_range
        self._highest = highest_issued
        self._lock = asyncio.Lock()

    async def refill(self, n: int) -> int:
        """Get ``n`` new SSCCs into the sink; return how many (fewer if the pool ran short)."""
        if n <= 0:
            return 0
        async with self._lock:
            if self.range is not None:
                assert self._highest is not None
                block = self.range.next_block(await self._highest(), n)
                await self.sink.add_ssccs(block)
                return len(block)
            return await self._from_pool(n)

    async def _from_pool(self, n: int) -> int:
        assert self.client is not None
        got = 0
        while got < n:
            limits = await self.client.connect()
            want = min(n - got, limits.max_requestable)
            result = await self.client.request(want, self.selection, on_page=self._store)
            got += len(result.serials)
            if result.short or not result.serials:
                if got == 0:
                    raise PoolExhausted(
                        "SNRequestAllocated",
                        ReturnStatus.InsufficientSerialNumbers3,
                        f"no SSCCs left in collection {self.selection.collection_id!r}",
                    )
                break
        return got

    async def _store(self, ssccs: list[str]) -> None:
        for sscc in ssccs:
            try:
                validate_sscc(sscc)
            except CheckDigitError as exc:
                raise PoolProtocolError(f"the pool manager sent a bad SSCC: {exc}") from None
            cp = self.company_prefix
            if cp is not None and sscc[1 : 1 + len(cp)] != cp:
                raise PoolProtocolError(
                    f"the pool manager sent SSCC {sscc}, not of company prefix {cp}"
                )
        await self.sink.add_ssccs(ssccs)
