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
diverted containers, cases and pallets closed), ``failures`` (background tasks that died).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linectl.line.runtime import LineRuntime


def line_status(rt: LineRuntime) -> dict[str, Any]:
    """The status document of ``rt`` (JSON-serialisable)."""
    state = rt.mirror.plc_state
    wo = rt.mirror.batch
    return {
        "line": {"id": rt.config.line.id, "name": rt.config.line.name},
        "phase": rt.mirror.phase,
        "state": {
            "name": state.name if state is not None else None,
            "number": int(state) if state is not None else None,
        },
        "batch": None
        if wo is None
        else {
            "batch": wo.batch,
            "gtin": wo.gtin,
            "lot": wo.lot,
            "expiry": wo.expiry,
            "quantity": wo.quantity,
        },
        "counters": dict(rt.tally.counters)
        | {
            "in_flight": len(rt.packs),
            "queued_jobs": rt.tracker.queued if rt.tracker.synced else None,
            "jobs_loaded": rt.feeder.loaded,
            "packs_per_minute": rt.tally.rate.per_minute(),
            "consecutive_rejects": rt.inspection.streak,
        },
        "reject_reasons": dict(sorted(rt.tally.reject_reasons.items())),
        "pool": {
            "available": rt.tally.pool_available,
            "written_ahead": len(rt.feeder.reserve),
            "low_water": rt.thresholds.pool_low_water,
            "low": rt.alarm_set.active("pool-low"),
        },
        "devices": rt.health.as_dict(),
        "print_queue": {
            "synced": rt.tracker.synced,
            "problem": rt.tracker.problem,
            "next_seq": rt.tracker.next_seq if rt.tracker.synced else None,
            "depth": rt.feeder.depth,
        },
        "alarms": rt.alarm_set.as_list(),
        "verdict_latency_ms": rt.inspection.latency.summary(),
        "upstream": rt.uplink.status()
        if rt.uplink is not None
        else {"backlog": rt.tally.outbox_pending},
        "packing": rt.packing.status() if rt.packing is not None else None,
        "failures": list(rt.failures),
    }
