"""A SerialSink that keeps what it is given, for provisioning tests."""

from __future__ import annotations

from collections.abc import Sequence


class MemorySink:
    """SerialSink that keeps each page as it came."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, str, list[str]]] = []

    async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
        self.pages.append((batch, gtin, list(serials)))

    @property
    def serials(self) -> list[str]:
        return [s for _, _, page in self.pages for s in page]
