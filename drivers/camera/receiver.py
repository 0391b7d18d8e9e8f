"""The socket end of an LCFP link: ``recv_into`` writes straight into memory the codec lends.

A VGA frame is 300 KiB. Through an asyncio StreamReader each one was copied four times in Python
(into the reader's buffer, out of it, into the codec, into the frame) before the decoder saw it,
at 0.05-0.1 ms per copy on the line machine. Then the socket filled one reused 1 MiB buffer and
each frame was copied once out of it (~75 us of the ~370 us a frame cost the daemon). Now the
codec's ``get_buffer`` hands out memory sized for the next message, the kernel writes the frame
there and its pixels are a read-only view of it: the socket's copy is the only one.
Reading pauses while the codec holds more than ``pause_above`` bytes nobody has asked for, so a
slow consumer still pushes back through TCP.
"""

from __future__ import annotations

import asyncio
import contextlib

from drivers.camera.framepush import FramePushConnection


class FramePushReceiver(asyncio.BufferedProtocol):
    """Feeds ``codec`` from the socket; ``wait_data()`` waits for more bytes or the end."""

    def __init__(self, codec: FramePushConnection, pause_above: int = 1 << 20) -> None:
        self.codec = codec
        self.pause_above = pause_above
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: OSError | None = None
        self._ended = False  # EOF or the connection went away
        self._paused = False
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio protocol callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.codec.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.codec.buffer_updated(nbytes)
        if self.codec.buffered > self.pause_above and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._end()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self._ended:  # the frames buffered still come, then the error
            self._error = exc if isinstance(exc, OSError) else OSError(str(exc))
            self._ended = True
        self._end()
        if not self._closed.done():
            self._closed.set_result(None)

    # --- the consumer's side --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        self.transport.write(data)

    async def wait_data(self) -> None:
        """Return once the codec got more bytes or the end of the stream; raise OSError if the
        connection failed. Call it only after the codec said NEED_DATA."""
        if self._error is not None:
            raise self._error
        if self._ended:
            return
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        """Close the socket and wait (at most a second) until it is gone."""
        if self.transport is not None:
            self.transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(self._closed)

    def abort(self) -> None:
        """Close without waiting (on cancellation)."""
        if self.transport is not None:
            self.transport.close()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.codec.receive_data(b"")
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
