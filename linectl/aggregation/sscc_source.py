"""Where the SSCC of a new case or pallet comes from: a configured range, or a provisioned stock.

The packing service asks an :class:`SsccSource` for one SSCC when it opens a container and
creates the container with it at once (under its lock), so an SSCC is used when its container
row exists, and only then:

- :class:`RangeSsccSource`: the next serial reference of the line's range after the highest SSCC
  of that range a container already carries. Nothing else is stored: a restart continues after
  the last container, and an SSCC drawn but not used (a crash before the container was created)
  is simply drawn again.
- :class:`SsccStock`: SSCCs the pool manager sent (``SsccProvisioner`` fills it as its
  ``SsccSink``), kept in the ledger (``ledger.sscc_stock``, committed before ``add_ssccs``
  returns). The next SSCC is the first one of the stock that no container carries yet. A stock
  file (``[aggregation] sscc_stock``, where linectl kept them before) is imported at start.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from linectl.config import SsccRange, SsccRangeExhausted, SsccSection
from linectl.ledger import Ledger
from linectl.ledger.hierarchy import highest_sscc
from standards.gs1.checkdigit import CheckDigitError, validate_sscc


class SsccUnavailable(Exception):
    """No SSCC left for a new case or pallet: the range is used up or the stock is empty."""


class SsccSource(Protocol):
    """Gives the SSCC for the next container (blocking; called from the packing thread)."""

    def next_sscc(self) -> str:
        """An SSCC no container in the ledger carries; SsccUnavailable when there is none."""
        ...


class RangeSsccSource:
    """The next SSCC of a configured serial-reference range (see the module docstring)."""

    def __init__(self, ledger: Ledger, sscc_range: SsccRange) -> None:
        self.ledger = ledger
        self.range = sscc_range
        self._low = sscc_range.sscc(sscc_range.first_reference)
        self._high = sscc_range.sscc(sscc_range.last_reference)

    def highest(self) -> str | None:
        """The highest SSCC of the range a container carries."""
        return self.ledger.containers.read(highest_sscc, self._low, self._high)

    async def highest_issued(self) -> str | None:
        """For ``SsccProvisioner(sscc_range=..., highest_issued=...)``."""
        return await asyncio.to_thread(self.highest)

    def next_sscc(self) -> str:
        try:
            return self.range.next_block(self.highest(), 1)[0]
        except SsccRangeExhausted as exc:
            raise SsccUnavailable(str(exc)) from None


class SsccStock:
    """The ledger's SSCC stock as the line uses it: an ``SsccSink`` and an ``SsccSource``.

    ``path`` is the ``[aggregation] sscc_stock`` file of linectl before schema v4 (or one
    provisioned offline, as ``make demo`` does): when it exists, its SSCCs are imported into the
    ledger here, once (SSCCs already in stock are skipped, so a restart imports nothing new). The
    file is only read; SSCCs the pool manager sends go to the ledger.
    """

    def __init__(
        self, ledger: Ledger, path: str | os.PathLike[str] | None = None, *, actor: str = "line"
    ) -> None:
        self.ledger = ledger
        self.path = None if path is None else Path(path)
        self.actor = actor
        self._lock = threading.Lock()
        self._after = 0  # stock id: every SSCC up to it is known to be used
        if self.path is not None and self.path.exists():
            self._import(self.path)

    def _import(self, path: Path) -> None:
        """Import the SSCCs of a stock file into the ledger (blocking; at start only)."""
        ssccs = []
        for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
            if line.strip():
                try:
                    ssccs.append(validate_sscc(line.strip()))
                except CheckDigitError as exc:
                    raise ValueError(f"{path} line {number}: {exc}") from None
        self.ledger.sscc_stock.add(ssccs, actor=self.actor, reason=f"imported from {path}")

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        """Store new SSCCs durably (``SsccSink``); refuses a bad one, storing none."""
        await asyncio.to_thread(self.add, ssccs)

    def add(self, ssccs: Sequence[str]) -> None:
        """Store SSCCs in the ledger's stock, committed before it returns (blocking)."""
        self.ledger.sscc_stock.add(
            ssccs, actor=self.actor, reason="provisioned by the pool manager"
        )

    def available(self) -> int:
        """SSCCs in stock that no container carries yet (for the low-water refill)."""
        return self.ledger.sscc_stock.unused()

    def next_sscc(self) -> str:
        with self._lock:
            found = self.ledger.sscc_stock.next_unused(self._after)
            if found is None:
                raise SsccUnavailable(
                    "no SSCC left in the ledger's stock: the pool manager must send more"
                )
            self._after = found[0] - 1  # the ones before it are used; it is not, yet
            return found[1]


def sscc_source_for(
    ledger: Ledger, section: SsccSection, stock: str | os.PathLike[str] | None
) -> RangeSsccSource | SsccStock:
    """The source ``[upstream.sscc]`` configures: its range, or the ledger's stock the pool
    fills (``stock``: a stock file from before schema v4 to import, if there is one)."""
    if section.source == "range":
        return RangeSsccSource(ledger, section.sscc_range())
    return SsccStock(ledger, stock)
