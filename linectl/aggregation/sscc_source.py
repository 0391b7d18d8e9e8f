"""Where the SSCC of a new case or pallet comes from: a configured range, or a provisioned stock.

The packing service asks an :class:`SsccSource` for one SSCC when it opens a container and
creates the container with it at once (under its lock), so an SSCC is used when its container
row exists, and only then:

- :class:`RangeSsccSource`: the next serial reference of the line's range after the highest SSCC
  of that range a container already carries. Nothing else is stored: a restart continues after
  the last container, and an SSCC drawn but not used (a crash before the container was created)
  is simply drawn again.
- :class:`SsccStock`: SSCCs the pool manager sent (``SsccProvisioner`` fills it as its
  ``SsccSink``), appended to a text file beside the ledger and fsynced before ``add_ssccs``
  returns. The next SSCC is the first one in the file that no container carries yet.
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
from linectl.ledger.hierarchy import highest_sscc, used_ssccs
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
    """SSCCs received from upstream, durable in a file; a ``SsccSink`` and an ``SsccSource``."""

    def __init__(self, ledger: Ledger, path: str | os.PathLike[str]) -> None:
        self.ledger = ledger
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ssccs: list[str] = []
        self._known: set[str] = set()
        self._next = 0  # everything before this index is known to be used
        if self.path.exists():
            for number, line in enumerate(self.path.read_text(encoding="ascii").splitlines(), 1):
                if line.strip():
                    self._remember(self._checked(line.strip(), f"{self.path} line {number}"))

    @staticmethod
    def _checked(sscc: str, where: str) -> str:
        try:
            return validate_sscc(sscc)
        except CheckDigitError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def _remember(self, sscc: str) -> None:
        if sscc not in self._known:
            self._known.add(sscc)
            self._ssccs.append(sscc)

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        """Store new SSCCs durably (``SsccSink``); refuses a bad one, storing none."""
        await asyncio.to_thread(self.add, ssccs)

    def add(self, ssccs: Sequence[str]) -> None:
        """Append SSCCs to the file and fsync it (blocking)."""
        checked = [self._checked(s, f"SSCC index {i}") for i, s in enumerate(ssccs)]
        with self._lock:
            fresh = [s for s in dict.fromkeys(checked) if s not in self._known]
            if not fresh:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as out:
                out.write("".join(f"{s}\n" for s in fresh))
                out.flush()
                os.fsync(out.fileno())
            for sscc in fresh:
                self._remember(sscc)

    def available(self) -> int:
        """SSCCs in stock that no container carries yet (for the low-water refill)."""
        with self._lock:
            rest = self._ssccs[self._next :]
        return len(rest) - len(self.ledger.containers.read(used_ssccs, rest))

    def next_sscc(self) -> str:
        with self._lock:
            while self._next < len(self._ssccs):
                sscc = self._ssccs[self._next]
                if not self.ledger.containers.read(used_ssccs, [sscc]):
                    return sscc
                self._next += 1
        raise SsccUnavailable(f"no SSCC left in {self.path}: the pool manager must send more")


def sscc_source_for(
    ledger: Ledger, section: SsccSection, stock: str | os.PathLike[str] | None
) -> RangeSsccSource | SsccStock:
    """The source ``[upstream.sscc]`` configures: its range, or the stock file the pool fills."""
    if section.source == "range":
        return RangeSsccSource(ledger, section.sscc_range())
    if stock is None:
        raise ValueError(
            "[upstream.sscc] source = 'central' needs [aggregation] sscc_stock: the file that "
            "keeps the SSCCs the pool manager sends"
        )
    return SsccStock(ledger, stock)
