"""The line object's values, kept equal to what the daemon reports.

It is fed the status document (``snapshot``) and the line's events, as the control API streams
them, and writes the PackML state machine, Status, Admin and the serialization data. State times
(current and cumulative, in seconds) advance with :meth:`Mirror.tick`, once a second.
"""

from __future__ import annotations

import datetime
import time
import zlib
from typing import Any

from asyncua import ua
from asyncua.common.node import Node

from linectl.line.reasons import RejectReason
from linectl.opcua.address_space import LineNodes, StateLevel
from standards.packml import STATE_COMPLETE, PackMLState

ABORT_STATES = {PackMLState.ABORTING, PackMLState.ABORTED}
MACHINE_STATES = {PackMLState.STOPPED, PackMLState.STOPPING, PackMLState.CLEARING}
PRODUCTION_MODE = 1  # ProductionMaintenanceModeEnum: Production
STATE_COUNT = len(PackMLState)
_REASON_IDS = {reason.value: reason.plc_code for reason in RejectReason}
_UNIT = ua.EUInformation(
    NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
    UnitId=-1,
    DisplayName=ua.LocalizedText("pack"),
    Description=ua.LocalizedText("packs (serialized units)"),
)


_STRUCT = ua.VariantType.ExtensionObject


def packml_name(state: PackMLState) -> str:
    """The NodeSet's browse name of a state (``UNHOLDING`` -> ``Unholding``)."""
    return state.name.capitalize()


def alarm_id(code: str) -> int:
    """A stable Int32 for an alarm code (its family, before ``:``): CRC-32, 31 bits."""
    return zlib.crc32(code.split(":", 1)[0].encode()) & 0x7FFFFFFF


def _number(value: int) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.Int32)


def _time(iso: str | None) -> datetime.datetime:
    if not iso:
        return datetime.datetime.now(datetime.UTC)
    try:
        return datetime.datetime.fromisoformat(iso)
    except ValueError:
        return datetime.datetime.now(datetime.UTC)


class Mirror:
    """Writes what the daemon reports into the line object."""

    def __init__(self, nodes: LineNodes, design_speed: float) -> None:
        self.nodes = nodes
        self.design_speed = design_speed
        self.state: PackMLState | None = None
        self.counters: dict[str, int] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self._accumulated = 0  # processed in batches before the current one
        self._processed = 0
        self._state_since = time.monotonic()
        self._cumulative = [0.0] * STATE_COUNT
        self._started = time.monotonic()
        self.requested = 0  # Status.StateRequested

    async def write(self, node: Node, value: Any, kind: ua.VariantType | None = None) -> None:
        variant = ua.Variant(value, kind) if kind is not None else ua.Variant(value)
        await node.write_value(ua.DataValue(variant))

    # --- inputs ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Values that do not change while the server runs."""
        status, admin = self.nodes.status, self.nodes.admin
        await self.write(status["UnitModeCurrent"], PRODUCTION_MODE, ua.VariantType.Int32)
        modes = self.nodes.unit_modes
        await self.write(status["UnitSupportedModes"], modes, ua.VariantType.NodeId)
        await self.write(admin["MachDesignSpeed"], float(self.design_speed), ua.VariantType.Float)
        await self.write(status["MachSpeed"], float(self.design_speed), ua.VariantType.Float)
        await self.write(status["EquipmentBlocked"], False, ua.VariantType.Boolean)
        speeds = ua.Range(Low=0.0, High=float(self.design_speed))
        for name in ("MachSpeed", "CurMachSpeed"):
            eu_range = await status[name].get_child(["0:EURange"])
            await self.write(eu_range, speeds, _STRUCT)
        none = ua.PackMLAlarmDataType()  # type: ignore[attr-defined]  # no stop yet
        await self.write(admin["StopReason"], none, _STRUCT)
        await self.set_state(None)
        await self.tick()

    async def snapshot(self, doc: dict[str, Any]) -> None:
        """The whole status document (at connect, after missed events, once a second)."""
        state = doc.get("state") or {}
        number = state.get("number")
        await self.set_state(PackMLState(number) if isinstance(number, int) else None)
        await self.set_counters(doc.get("counters") or {}, doc.get("reject_reasons") or {})
        self.alarms = {a["code"]: a for a in doc.get("alarms") or [] if "code" in a}
        await self.write_alarms()
        await self.write_serialization(doc)

    async def event(self, name: str, data: dict[str, Any]) -> None:
        """One line event, as the control API streams it."""
        if name == "snapshot":
            await self.snapshot(data)
        elif name == "state-changed":
            new = str(data.get("new"))
            await self.set_state(PackMLState[new] if new in PackMLState.__members__ else None)
        elif name == "counters":
            await self.set_counters(data.get("values") or {}, None)
        elif name == "alarm-raised":
            self.alarms[data["code"]] = data | {"since": None}
            await self.write_alarms()
        elif name == "alarm-cleared":
            self.alarms.pop(data.get("code", ""), None)
            await self.write_alarms()
        elif name == "pool-level":
            await self._int("PoolAvailable", data.get("available"))
            await self.write(
                self.nodes.status["EquipmentStarved"],
                data.get("available") == 0,
                ua.VariantType.Boolean,
            )
        elif name == "upstream-level":
            await self._int("UpstreamBacklog", data.get("backlog"))

    # --- the state machine -----------------------------------------------------------------------

    async def set_state(self, state: PackMLState | None) -> None:
        now = time.monotonic()
        if self.state is not None:
            self._cumulative[self.state] += now - self._state_since
        if state != self.state:
            self._state_since = now
        self.state = state
        base, machine, execute = (self.nodes.levels[k] for k in ("base", "machine", "execute"))
        if state is None or state is PackMLState.UNDEFINED:
            for level in (base, machine, execute):
                await self._level(level, None)
        elif state in ABORT_STATES:
            await self._level(base, packml_name(state))
            await self._level(machine, None)
            await self._level(execute, None)
        elif state in MACHINE_STATES:
            await self._level(base, "Cleared")
            await self._level(machine, packml_name(state))
            await self._level(execute, None)
        else:
            await self._level(base, "Cleared")
            await self._level(machine, "Running")
            await self._level(execute, packml_name(state))
        status = self.nodes.status
        acting = state in STATE_COMPLETE
        await self.write(status["StateChangeInProcess"], acting, ua.VariantType.Boolean)
        if state is None:
            self.requested = 0
        else:  # where the line heads: the end of an acting state, else where it is
            self.requested = int(STATE_COMPLETE.get(state, state))
        await self.write(status["StateRequested"], self.requested, ua.VariantType.Int32)

    async def request(self, state: PackMLState) -> None:
        """A command was accepted: the state it leads to (Status.StateRequested)."""
        self.requested = int(STATE_COMPLETE.get(state, state))
        await self.write(self.nodes.status["StateRequested"], self.requested, ua.VariantType.Int32)

    async def _level(self, level: StateLevel, name: str | None) -> None:
        fact = level.states.get(name) if name is not None else None
        if fact is None:
            await self.write(level.current, ua.LocalizedText(""), ua.VariantType.LocalizedText)
            await self.write(level.current_id, ua.NodeId(), ua.VariantType.NodeId)
            await self.write(level.current_number, 0, ua.VariantType.UInt32)
            await self.write(level.available_transitions, [], ua.VariantType.NodeId)
        else:
            state_id, number = fact
            await self.write(level.current, ua.LocalizedText(name), ua.VariantType.LocalizedText)
            await self.write(level.current_id, state_id, ua.VariantType.NodeId)
            await self.write(level.current_number, number, ua.VariantType.UInt32)
            out = [t for t, source in level.transitions if source == state_id]
            await self.write(level.available_transitions, out, ua.VariantType.NodeId)
        states = [state_id for state_id, _ in level.states.values()]
        await self.write(level.available_states, states, ua.VariantType.NodeId)

    # --- Admin -----------------------------------------------------------------------------------

    async def set_counters(self, values: dict[str, int], reasons: dict[str, int] | None) -> None:
        self.counters.update(values)
        processed = self.counters.get("commissioned", 0) + self.counters.get("scrapped", 0)
        if processed < self._processed:  # a new batch: keep the old one's in AccCount
            self._accumulated += self._processed
        self._processed = processed
        count = ua.PackMLCountDataType(  # type: ignore[attr-defined]
            ID=1,
            Name="processed",
            Unit=_UNIT,
            Count=processed,
            AccCount=self._accumulated + processed,
        )
        admin = self.nodes.admin
        await self.write(admin["ProdProcessedCount"], [count], _STRUCT)
        if reasons is not None:
            defective = [
                ua.PackMLCountDataType(  # type: ignore[attr-defined]
                    ID=_REASON_IDS.get(reason, 0), Name=reason, Unit=_UNIT, Count=n, AccCount=n
                )
                for reason, n in sorted(reasons.items())
            ]
            await self.write(admin["ProdDefectiveCount"], defective, _STRUCT)
        rate = float(values.get("packs_per_minute", self.counters.get("packs_per_minute", 0)))
        await self.write(self.nodes.status["CurMachSpeed"], rate, ua.VariantType.Float)
        for name, key in (("Commissioned", "commissioned"), ("Scrapped", "scrapped")):
            await self._int(name, self.counters.get(key))

    def _alarm(self, alarm: dict[str, Any]) -> Any:
        return ua.PackMLAlarmDataType(  # type: ignore[attr-defined]
            ID=alarm_id(alarm["code"]),
            Value=0,
            Message=f"{alarm['code']}: {alarm.get('message', '')}",
            Category=1 if alarm.get("holds") else 2,
            DateTime=_time(alarm.get("since")),
            AckDateTime=datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC),
        )

    async def write_alarms(self) -> None:
        holding = [self._alarm(a) for a in self.alarms.values() if a.get("holds")]
        warnings = [self._alarm(a) for a in self.alarms.values() if not a.get("holds")]
        admin = self.nodes.admin
        await self.write(admin["Alarm"], holding, _STRUCT)
        await self.write(admin["AlarmExtent"], len(holding), ua.VariantType.Int32)
        await self.write(admin["Warning"], warnings, _STRUCT)
        await self.write(admin["WarningExtent"], len(warnings), ua.VariantType.Int32)
        if holding:
            await self.write(admin["StopReason"], holding[0], _STRUCT)
        await self.write(admin["StopReasonExtent"], 1, ua.VariantType.Int32)

    async def tick(self) -> None:
        """Advance the state times: Int32 seconds, [1 unit mode x 18 states]."""
        now = time.monotonic()
        current = [0] * STATE_COUNT
        cumulative = [int(s) for s in self._cumulative]
        if self.state is not None:
            current[self.state] = int(now - self._state_since)
            cumulative[self.state] += current[self.state]
        admin = self.nodes.admin
        for name, values in (("StateCurrentTime", current), ("StateCumulativeTime", cumulative)):
            matrix = ua.Variant(
                values, ua.VariantType.Int32, Dimensions=[ua.Int32(1), ua.Int32(STATE_COUNT)]
            )
            await admin[name].write_value(ua.DataValue(matrix))
        since = int(now - self._started)
        await self.write(admin["AccTimeSinceReset"], since, ua.VariantType.Int32)

    # --- serialization data ----------------------------------------------------------------------

    async def _int(self, name: str, value: Any) -> None:
        number = int(value) if isinstance(value, int) else -1
        await self.write(self.nodes.serialization[name], number, ua.VariantType.Int32)

    async def _text(self, name: str, value: Any) -> None:
        text = str(value) if value is not None else None
        await self.write(self.nodes.serialization[name], text, ua.VariantType.String)

    async def write_serialization(self, doc: dict[str, Any]) -> None:
        batch = doc.get("batch") or {}
        for name, key in (
            ("Batch", "batch"),
            ("GTIN", "gtin"),
            ("Lot", "lot"),
            ("Expiry", "expiry"),
        ):
            await self._text(name, batch.get(key))
        await self._int("Quantity", batch.get("quantity"))
        pool = doc.get("pool") or {}
        await self._int("PoolAvailable", pool.get("available"))
        await self._int("PoolLowWater", pool.get("low_water"))
        starved = pool.get("available") == 0 and bool(batch)
        await self.write(self.nodes.status["EquipmentStarved"], starved, ua.VariantType.Boolean)
        await self._int("UpstreamBacklog", (doc.get("upstream") or {}).get("backlog"))
        await self._int("InFlight", (doc.get("counters") or {}).get("in_flight"))
        packing = doc.get("packing") or {}
        await self._text("OpenCase", packing.get("case"))
        await self._int("OpenCaseUnits", packing.get("case_units"))
        await self._text("OpenPallet", packing.get("pallet"))
        await self._int("OpenPalletCases", packing.get("pallet_cases"))
