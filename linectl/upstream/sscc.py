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
from dataclasses import dataclass
from typing import Protocol

from linectl.upstream.provisioning import (
    PoolExhausted,
    PoolManagerClient,
    PoolProtocolError,
    Selection,
)
from standards.gs1.checkdigit import CheckDigitError, make_sscc, validate_sscc
from standards.openscs import ReturnStatus


class SsccRangeError(ValueError):
    """A range that cannot be used, or an SSCC outside it; the message names the value."""


class SsccRangeExhausted(SsccRangeError):
    """Every serial reference of the configured range has been issued."""


class SsccSink(Protocol):
    """Where new SSCCs go, durably (the ledger's container identifiers)."""

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        """Store ``ssccs`` as available for new cases and pallets; raise if not stored."""


@dataclass(frozen=True)
class SsccRange:
    """Serial references ``first_reference..last_reference`` under one company prefix."""

    company_prefix: str
    extension_digit: int
    first_reference: int
    last_reference: int

    def __post_init__(self) -> None:
        try:
            make_sscc(self.extension_digit, self.company_prefix, self.first_reference)
            make_sscc(self.extension_digit, self.company_prefix, self.last_reference)
        except CheckDigitError as exc:
            raise SsccRangeError(f"SSCC range: {exc}") from None
        if self.first_reference > self.last_reference:
            raise SsccRangeError(
                f"SSCC range: first_reference {self.first_reference} is above "
                f"last_reference {self.last_reference}"
            )

    @property
    def capacity(self) -> int:
        return self.last_reference - self.first_reference + 1

    def sscc(self, reference: int) -> str:
        """The SSCC of one serial reference of the range."""
        if not self.first_reference <= reference <= self.last_reference:
            raise SsccRangeError(
                f"serial reference {reference} is outside {self.first_reference}.."
                f"{self.last_reference}"
            )
        return make_sscc(self.extension_digit, self.company_prefix, reference)

    def reference_of(self, sscc: str) -> int:
        """The serial reference of an SSCC of this range (refuses any other SSCC)."""
        try:
            validate_sscc(sscc)
        except CheckDigitError as exc:
            raise SsccRangeError(str(exc)) from None
        cp = self.company_prefix
        if sscc[0] != str(self.extension_digit) or sscc[1 : 1 + len(cp)] != cp:
            raise SsccRangeError(
                f"SSCC {sscc}: not extension {self.extension_digit} of company prefix {cp}"
            )
        reference = int(sscc[1 + len(cp) : 17])
        self.sscc(reference)  # in the range?
        return reference

    def next_block(self, highest_issued: str | None, count: int) -> list[str]:
        """The ``count`` SSCCs after ``highest_issued`` (None: from the start of the range)."""
        start = (
            self.first_reference
            if highest_issued is None
            else self.reference_of(highest_issued) + 1
        )
        if start + count - 1 > self.last_reference:
            left = max(0, self.last_reference - start + 1)
            raise SsccRangeExhausted(
                f"SSCC range {self.sscc(self.first_reference)}..{self.sscc(self.last_reference)}"
                f" has {left} references left, {count} wanted"
            )
        return [self.sscc(r) for r in range(start, start + count)]


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
