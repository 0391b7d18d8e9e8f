"""PushCamera: the host end of an LCFP frame push link (drivers.camera.framepush) over TCP.

``frames()`` reads the socket only while it is iterated, so a slow consumer pushes back through TCP
and the camera drops frames rather than the host queueing stale ones. When the link drops (EOF,
reset, BYE, or silence longer than three keep-alive intervals) the iterator raises
DeviceUnavailable; the next ``frames()`` reconnects after the ReconnectPolicy's delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from drivers.camera.framepush import (
    CLOSED,
    NEED_DATA,
    Bye,
    FrameMessage,
    FramePushConnection,
    FramePushError,
    Hello,
    HelloAck,
    Limits,
    Role,
)
from drivers.camera.receiver import FramePushReceiver
from drivers.interfaces import DeviceUnavailable, Frame
from drivers.reconnect import LinkState, ReconnectPolicy

# Reading pauses while this much is buffered unread: with asyncio's StreamReader default (128 KiB)
# every VGA frame (300 KiB) paused and resumed reading two or three times; at 1 MiB push-back
# still starts within about three frames of the consumer falling behind.
_PAUSE_ABOVE = 1 << 20


class PushCamera:
    """Connects to a camera's push server and yields the frames it pushes.

    Offers: Camera; it reconnects by itself, in the next ``frames`` call after the policy's delay.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "camera",
        client_name: str = "linectl",
        connect_timeout: float = 3.0,
        policy: ReconnectPolicy | None = None,
        limits: Limits | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.policy = policy or ReconnectPolicy(name)
        self.limits = limits or Limits()
        self.logger = logger or logging.getLogger("linectl.devices.camera")
        self.state = LinkState.DISCONNECTED
        self.hello: HelloAck | None = None
        self.frames_received = 0
        self.protocol_errors = 0
        self.last_seq: int | None = None
        self.seq_gaps = 0  # frames the camera skipped (seq jumps), e.g. dropped under load
        self._link: FramePushReceiver | None = None
        self._codec: FramePushConnection | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0

    @property
    def link_state(self) -> LinkState:
        """Where the link to the device is (connected, reconnecting, closed)."""
        return self.state

    @property
    def closed(self) -> bool:
        return self.state is LinkState.CLOSED

    # --- connection -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the link and shake hands; raises DeviceUnavailable when that fails."""
        async with self._lock:
            await self._connect()

    async def _connect(self) -> None:
        if self.state is LinkState.CLOSED:
            raise DeviceUnavailable(f"{self.name}: closed")
        if self._link is not None:
            return
        self.state = LinkState.CONNECTING
        codec = FramePushConnection(Role.HOST, limits=self.limits)
        link: FramePushReceiver | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                loop = asyncio.get_running_loop()
                _, link = await loop.create_connection(
                    lambda: FramePushReceiver(codec, _PAUSE_ABOVE), self.host, self.port
                )
                link.write(codec.send(Hello(self.client_name, time.time_ns())))
                ack = await self._handshake(link, codec)
        except (OSError, TimeoutError, FramePushError, DeviceUnavailable) as exc:
            if link is not None:
                await link.close()
            if not self.closed:
                self.state = LinkState.DISCONNECTED
            delay = self.policy.on_failure(exc)
            self._retry_at = asyncio.get_running_loop().time() + delay
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise DeviceUnavailable(f"{self.name} {self.host}:{self.port}: {what}") from exc
        except asyncio.CancelledError:
            if link is not None:
                link.abort()
            if not self.closed:
                self.state = LinkState.DISCONNECTED
            raise
        if self.closed:  # close() was called while the handshake was under way
            await link.close()
            raise DeviceUnavailable(f"{self.name}: closed")
        self.policy.on_success()
        self._link, self._codec = link, codec
        self.hello = ack
        self.state = LinkState.CONNECTED
        self.logger.info(
            "%s: connected to %s (%dx%d)", self.name, ack.camera or "camera", ack.width, ack.height
        )

    async def _handshake(self, link: FramePushReceiver, codec: FramePushConnection) -> HelloAck:
        """Wait for HELLO_ACK; garbage before it is skipped, a BYE or EOF is a failure."""
        while True:
            try:
                event = codec.next_event()
            except FramePushError as exc:
                self.protocol_errors += 1
                self.logger.debug("%s: during handshake: %s", self.name, exc)
                continue
            if isinstance(event, HelloAck):
                return event
            if isinstance(event, Bye):
                raise DeviceUnavailable(f"camera refused the connection: {event.reason}")
            if event is CLOSED:
                raise DeviceUnavailable("camera closed the connection during the handshake")
            if event is NEED_DATA:
                await link.wait_data()

    async def _drop(self) -> None:
        link, self._link, self._codec = self._link, None, None
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.DISCONNECTED
        if link is not None:
            await link.close()

    async def close(self) -> None:
        """Close the link; frames() iterations end. Safe to call twice."""
        self.state = LinkState.CLOSED
        await self._drop()

    # --- frames -----------------------------------------------------------------------------

    def _idle_timeout(self) -> float | None:
        if self.hello is None or self.hello.keepalive_ms == 0:
            return None
        return max(3 * self.hello.keepalive_ms / 1000.0, 0.5)

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield frames as they arrive (one consumer at a time); ends on close().

        Raises DeviceUnavailable when the link is lost or cannot be opened; call again to reconnect.
        """
        if self.closed:
            return
        if self._link is None:
            async with self._lock:
                wait = self._retry_at - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._connect()
        while True:
            link, codec = self._link, self._codec
            if link is None or codec is None:
                if self.closed:
                    return
                raise DeviceUnavailable(f"{self.name}: link lost")
            try:
                event = codec.next_event()
            except FramePushError as exc:
                self._protocol_error(exc)
                continue
            if isinstance(event, FrameMessage):
                self._count(event.seq)
                yield event.to_frame()
            elif isinstance(event, Bye):
                await self._lost(f"camera said bye: {event.reason or 'no reason'}")
            elif event is CLOSED:
                await self._lost("camera closed the connection")
            elif event is NEED_DATA:
                try:
                    async with asyncio.timeout(self._idle_timeout()):
                        await link.wait_data()
                except TimeoutError:
                    await self._lost(f"silent for {self._idle_timeout():.1f} s (keep-alive missed)")
                except OSError as exc:
                    await self._lost(f"read failed: {exc}")
            # Keepalive and anything else: nothing to do

    async def _lost(self, why: str) -> None:
        """Drop the link and raise, unless close() was the reason."""
        closed = self.state is LinkState.CLOSED
        await self._drop()
        if closed:
            return
        delay = self.policy.on_failure(DeviceUnavailable(why))
        self._retry_at = asyncio.get_running_loop().time() + delay
        raise DeviceUnavailable(f"{self.name}: {why}")

    def _protocol_error(self, exc: FramePushError) -> None:
        self.protocol_errors += 1
        level = logging.WARNING if self.protocol_errors == 1 else logging.DEBUG
        self.logger.log(level, "%s: %s (resynchronising)", self.name, exc)

    def _count(self, seq: int) -> None:
        self.frames_received += 1
        if self.last_seq is not None and seq > self.last_seq + 1:
            self.seq_gaps += seq - self.last_seq - 1
        self.last_seq = seq
