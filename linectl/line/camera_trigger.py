"""A device triggered per pack by the PLC's camera seq, its read paired with that pack by one rule.

Shared by the smart reader station (:mod:`linectl.line.reader_station`) and the RFID reader
station (:mod:`linectl.line.rfid_station`). While packs may move the stage reads the PLC's
``Stations.Camera.LastSeq`` every ``poll_s`` (5 ms; one signal, or the whole snapshot from a PLC
driver without signal access). For each new seq it reads the device once and pairs the read with
that seq under one rule, which makes the pairing certain or leaves the pack unread:

* the PLC showed seq *s* at the camera before the trigger was sent, and a read of
  ``Stations.Camera.LastSeq`` begun after the reply came in still shows *s*. The seq only grows,
  so *s* stood at the camera for the whole read: the read is *s*'s.
* If the camera seq moved during the read, the read is not paired: *s* is unread ("not
  paired") and the newer pack is read at once.
* Packs that passed the camera between two observations (the PLC moved on by more than one) are
  never read: each is unread ("not triggered").
* A read that fails (timeout, lost connection, refused trigger) leaves its pack unread and marks
  the device lost (the line holds); the stage connects to it again every ``retry_s`` until it
  answers, so an operator can unhold.

What a paired read and an unread pack mean is the subclass's (:meth:`CameraTrigger.paired`,
:meth:`CameraTrigger.unread`). ``trigger_ns`` handed to them is the start of the last PLC read
that still showed the previous seq, the earliest moment the pack can have reached the camera.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from typing import Generic, Protocol, TypeVar

from drivers.interfaces import DeviceError, Plc
from linectl.line.health import DeviceWatch
from linectl.line.plc_side import read_camera_seq
from linectl.line.printing import may_move
from linectl.line.state import LineMirror

log = logging.getLogger("linectl.runtime")

R = TypeVar("R")


class Triggered(Protocol):
    """What the stage needs of its device besides the read itself: (re)connecting."""

    async def connect(self) -> None: ...


class CameraTrigger(abc.ABC, Generic[R]):
    """Stage base: read the device once for each pack the PLC reports at the camera; pair."""

    role: str = "reader"
    """The device's role in device health (``reader``, ``rfid``)."""

    def __init__(
        self,
        device: Triggered,
        plc: Plc,
        mirror: LineMirror,
        devices: DeviceWatch,
        *,
        poll_s: float = 0.005,
        retry_s: float = 0.5,
    ) -> None:
        self.device = device
        self.plc = plc
        self.mirror = mirror
        self.devices = devices
        self.poll_s = poll_s
        self.retry_s = retry_s
        self._window = (0, 0)  # (start of the read before the last, start of the last), ns
        self.seen: int | None = None  # the last camera seq handled (read, or left unread)
        self.reads = 0
        self.reading: int | None = None  # the seq whose read is under way
        self.unpaired = 0  # reads the camera seq moved under
        self.untriggered = 0  # packs that passed the camera between two observations

    @abc.abstractmethod
    async def read(self, seq: int) -> R:
        """Trigger the device for pack ``seq`` and return its read (DeviceError: it failed)."""

    @abc.abstractmethod
    async def paired(self, seq: int, result: R, trigger_ns: int, stamps: tuple[int, int]) -> None:
        """``result`` is certainly pack ``seq``'s; ``stamps``: trigger sent, reply in (ns)."""

    @abc.abstractmethod
    async def unread(self, seq: int, trigger_ns: int, why: str) -> None:
        """Pack ``seq`` gets no read that can be trusted (``why`` says what happened)."""

    async def run(self) -> None:
        """Follow the PLC's camera seq for as long as the line runs."""
        while True:
            if not self.devices.connected(self.role):
                await self._reconnect()  # a held line reads nothing: only this brings it back
                continue
            await self.mirror.wait_for(lambda: may_move(self.mirror.plc_state))
            try:
                now: int | None = await self._camera_seq_now()
            except DeviceError:
                now = None  # the PLC watch reports a lost PLC; nothing is paired meanwhile
            if now is None:
                pass
            elif self.seen is None:
                self.seen = now  # what stood there before this run is not ours
            elif now > self.seen:
                seq, since_ns = now, self._window[0]
                while seq:
                    seq, since_ns = await self.station(seq, since_ns)
            elif now < self.seen:  # the PLC counts again from lower down (restarted, wrapped)
                log.warning("the PLC's camera seq went back from %d to %d", self.seen, now)
                self.seen = now
            await asyncio.sleep(self.poll_s)

    async def _reconnect(self) -> None:
        """Try the lost device again (every ``retry_s``); it is back once it answers."""
        try:
            await self.device.connect()
        except (DeviceError, OSError) as exc:
            self.devices.lost(self.role, exc)  # (already lost: only its error is updated)
            await asyncio.sleep(self.retry_s)
        else:
            self.devices.back(self.role)

    async def station(self, seq: int, trigger_ns: int) -> tuple[int, int]:
        """Handle pack ``seq``, seen at the camera (reached it no earlier than ``trigger_ns``).

        Returns the next seq to handle at once (one that reached the camera during the read,
        with its earliest arrival) or (0, 0).
        """
        seen = self.seen or 0
        for missed in range(seen + 1, seq):
            self.untriggered += 1
            await self.unread(
                missed, trigger_ns, "not read: it passed the camera between two polls"
            )
        self.seen = seq
        sent_ns = time.time_ns()
        self.reading = seq
        try:
            result = await self.read(seq)
        except DeviceError as exc:
            self.devices.lost(self.role, exc)
            await self.unread(seq, trigger_ns, f"the {self.role} did not read: {exc}")
            return 0, 0
        finally:
            self.reading = None
        self.devices.back(self.role)
        read_ns = time.time_ns()
        self.reads += 1
        try:
            now = await self._camera_seq_now()
        except DeviceError as exc:
            await self.unread(
                seq, trigger_ns, f"not paired: the PLC's camera seq unreadable ({exc})"
            )
            return 0, 0
        if now != seq:
            self.unpaired += 1
            await self.unread(
                seq, trigger_ns, f"not paired: pack {now} reached the camera in the read"
            )
            return (now, self._window[0]) if now > seq else (0, 0)
        await self.paired(seq, result, trigger_ns, (sent_ns, read_ns))
        return 0, 0

    async def _camera_seq_now(self) -> int:
        """``Stations.Camera.LastSeq`` read now (one signal where the driver can); the window
        moves on to (start of the read before, start of this one)."""
        start_ns = time.time_ns()
        value = await read_camera_seq(self.plc)
        self._window = (self._window[1] or start_ns, start_ns)
        return value
