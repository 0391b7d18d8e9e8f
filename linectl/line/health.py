"""Which of the line's devices answer: lost and back, as an alarm and on the event stream.

A device lost raises the holding alarm ``device-lost:NAME`` (the line is then held by whoever
enforces holding alarms); its return is noted but never clears the alarm by itself: an
operator's Unhold does, once the device is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from linectl.line.alarms import Alarm, Alarms, iso_now
from linectl.line.devices import DeviceHealth
from linectl.line.events import DeviceBack, DeviceLost, EventStream

log = logging.getLogger("linectl.runtime")


class DeviceWatch:
    """Health of every device by role (plc, printer, camera, case_printer, case_reader)."""

    def __init__(
        self,
        names: dict[str, str],
        protocols: dict[str, str],
        alarms: Alarms,
        events: EventStream,
    ) -> None:
        self.names = names
        self.health = {
            role: DeviceHealth(role, protocols.get(role, "?"), connected=True) for role in names
        }
        self._alarms = alarms
        self._events = events

    def lost(self, role: str, exc: BaseException) -> None:
        """``role``'s device did not answer (``exc`` says why)."""
        health = self.health[role]
        health.error = str(exc)
        if health.connected:
            health.connected, health.since = False, iso_now()
            name = self.names[role]
            self._events.publish(DeviceLost(role, name, str(exc)))
            self._alarms.raise_(f"device-lost:{name}", f"{role} {name} lost: {exc}", holds=True)

    def back(self, role: str) -> None:
        """``role``'s device answered."""
        health = self.health[role]
        if not health.connected:
            health.connected, health.error, health.since = True, None, iso_now()
            log.warning("%s %s is back", role, self.names[role])
            self._events.publish(DeviceBack(role, self.names[role]))

    def connected(self, role: str) -> bool:
        return self.health[role].connected

    def not_answering(self) -> list[str]:
        """``name (error)`` of every device that is lost."""
        return [f"{self.names[r]} ({h.error})" for r, h in self.health.items() if not h.connected]

    def back_by_name(self, name: str) -> bool:
        """Whether the device configured as ``name`` answers (True for an unknown name)."""
        role = next((r for r, n in self.names.items() if n == name), None)
        return role is None or self.health[role].connected

    def as_dict(self) -> dict[str, object]:
        return {self.names[role]: h.as_dict() for role, h in self.health.items()}


class HoldCauses:
    """Whether a holding alarm's cause is over, so an operator's Unhold or Reset may clear it.

    A lost device must answer again, a printer fault must be gone (``printer_ready``), the
    ledger must take writes again (``ledger_ok``), and a failed task never clears (it is a bug:
    restart linectl). Other causes are the operator's to judge once acknowledged.
    """

    def __init__(
        self,
        devices: DeviceWatch,
        printer_ready: Callable[[], bool],
        ledger_ok: Callable[[], bool] = lambda: True,
    ) -> None:
        self.devices = devices
        self.ledger_ok = ledger_ok
        self.printer_ready = printer_ready

    def gone(self, alarm: Alarm) -> bool:
        if alarm.code.startswith("device-lost:"):
            return self.devices.back_by_name(alarm.code.split(":", 1)[1])
        if alarm.code == "printer-fault":
            return self.printer_ready()
        if alarm.code == "ledger":
            return self.ledger_ok()
        return alarm.code != "task-failed"
