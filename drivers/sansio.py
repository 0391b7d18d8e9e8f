"""What every sans-IO device codec shares: the NEED_DATA sentinel and a byte buffer with offsets.

The ZPL, WSI, DMCC and Keyence codecs (both sides) return :data:`NEED_DATA` from ``next_event``
when they need more bytes; :class:`ByteStream` keeps the input and the stream offset of its first
byte, so a protocol error names where in the stream it happened. :func:`drain` takes every
complete event out of a codec, skipping malformed frames, as a device-side loop (the simulators)
does after each read.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Final, Protocol, TypeVar

from drivers.interfaces import ProtocolError

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


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


class EventSource(Protocol[E_co]):
    """Either side of a sans-IO codec, as far as taking events out of it goes."""

    def next_event(self) -> E_co | NeedData: ...


def _ignore(error: ProtocolError) -> None:
    """What a device does with bytes it cannot parse: nothing."""


def drain(
    codec: EventSource[E], on_error: Callable[[ProtocolError], None] = _ignore
) -> Iterator[E]:
    """Every complete event ``codec`` holds now, in order; each malformed frame (already skipped
    by the codec) goes to ``on_error``. Ends when the codec needs more bytes."""
    while True:
        try:
            event = codec.next_event()
        except ProtocolError as exc:
            on_error(exc)
            continue
        if event is NEED_DATA:
            return
        yield event
