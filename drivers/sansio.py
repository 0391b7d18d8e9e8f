"""What every sans-IO device codec shares: the NEED_DATA sentinel and a byte buffer with offsets.

The ZPL, WSI, DMCC and Keyence codecs (both sides) return :data:`NEED_DATA` from ``next_event``
when they need more bytes; :class:`ByteStream` keeps the input and the stream offset of its first
byte, so a protocol error names where in the stream it happened.
"""

from __future__ import annotations

import enum
from typing import Final


class NeedData(enum.Enum):
    """Sentinel type: the codec needs more bytes before it can return another event."""

    NEED_DATA = "need-data"


NEED_DATA: Final = NeedData.NEED_DATA


class ByteStream:
    """Buffered input of one side of a codec; ``skipped`` counts noise dropped between frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self.skipped = 0

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget buffered input (stale bytes before a new request)."""
        self._offset += len(self._buf)
        self._buf.clear()

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n
