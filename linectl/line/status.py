"""The status document of a running line, as the control API and the CLI show it.

Keys: ``line`` (id, name), ``phase`` (linectl's own life: recovering, running, stopping,
stopped), ``state`` (the PackML state the PLC reports: name and number), ``batch``,
``counters`` (verdicts written, packs through the gate, commissioned and scrapped serials of the
batch - durable only - and what is in flight), ``reject_reasons`` (scrapped serials of the batch
by reason code), ``pool``, ``devices`` (name -> connected or lost), ``print_queue``, ``alarms``,
``verdict_latency_ms`` (camera trigger to verdict written: n, p50, p99, max), ``upstream``
(events waiting in the outbox; with ``[upstream]`` also the oldest one's age, the EPCIS link and
serial provisioning: see :meth:`linectl.line.uplink.Uplink.status`), ``packing`` (with
``[aggregation]``: open case and pallet with their counts, labels awaiting verification,
diverted containers, cases and pallets closed), ``failures`` (background tasks that died),
``rfid`` (with an RFID reader station: its reads, good tags, rejects by reason, unpaired and
untriggered packs, verdicts not in time, the weak-tag limit and the last good tag's RSSI).

It reads the line's shared objects (:class:`StatusSources`), never the runtime; the same facts
go to observers as they change through the event stream (:mod:`linectl.line.events`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linectl.config import LineSection
from linectl.line.alarms import Alarms
from linectl.line.feeder import Feeder
from linectl.line.health import DeviceWatch
from linectl.line.inspection import Inspection
from linectl.line.packing_link import PackingLink
from linectl.line.packs import PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.rfid_station import RfidStation
from linectl.line.state import LineMirror, Tally


@dataclass(frozen=True)
class StatusSources:
    """What the status document is read from."""

    line: LineSection
    mirror: LineMirror
    tally: Tally
    packs: PackTable
    tracker: PrintAhead
    feeder: Feeder
    inspection: Inspection
    alarms: Alarms
    health: DeviceWatch
    low_water: int
    failures: list[str]
    packing: PackingLink | None
    upstream: Callable[[], dict[str, Any] | None]  # the uplink's status, None without one
    rfid: RfidStation | None = None  # the RFID reader station, if the line has one


def line_status(src: StatusSources) -> dict[str, Any]:
    """The status document of the line (JSON-serialisable)."""
    state = src.mirror.plc_state
    plc = src.health.health.get("plc")
    unknown = None
    if plc is not None and not plc.connected:  # the last state seen may be long gone
        seen = state.name if state is not None else "none"
        unknown = f"PLC unreachable, state unknown (last reported {seen}): {plc.error}"
        state = None
    wo = src.mirror.batch
    tally, tracker, feeder = src.tally, src.tracker, src.feeder
    upstream = src.upstream()
    return {
        "line": {"id": src.line.id, "name": src.line.name},
        "phase": src.mirror.phase,
        "state": {
            "name": state.name if state is not None else None,
            "number": int(state) if state is not None else None,
        }
        | ({"unknown": unknown} if unknown else {}),
        "batch": None
        if wo is None
        else {
            "batch": wo.batch,
            "gtin": wo.gtin,
            "lot": wo.lot,
            "expiry": wo.expiry,
            "quantity": wo.quantity,
        },
        "counters": dict(tally.counters)
        | {
            "in_flight": len(src.packs),
            "queued_jobs": tracker.queued if tracker.synced else None,
            "jobs_loaded": feeder.loaded,
            "packs_per_minute": tally.rate.per_minute(),
            "consecutive_rejects": src.inspection.streak,
        },
        "reject_reasons": dict(sorted(tally.reject_reasons.items())),
        "pool": {
            "available": tally.pool_available,
            "written_ahead": len(feeder.reserve),
            "low_water": src.low_water,
            "low": src.alarms.active("pool-low"),
        },
        "devices": src.health.as_dict(),
        "print_queue": {
            "synced": tracker.synced,
            "problem": tracker.problem,
            "next_seq": tracker.next_seq if tracker.synced else None,
            "depth": feeder.depth,
        },
        "alarms": src.alarms.as_list(),
        "verdict_latency_ms": src.inspection.latency.summary(),
        "upstream": upstream if upstream is not None else {"backlog": tally.outbox_pending},
        "packing": src.packing.status() if src.packing is not None else None,
        "failures": list(src.failures),
        "rfid": src.rfid.status() if src.rfid is not None else None,
    }
