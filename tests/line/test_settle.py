"""The gate's report settles each pack: only a GOOD written in time and passed is commissioned."""

from __future__ import annotations

from drivers.interfaces import GateOutcome, Verdict
from linectl.line.packs import LatencyWindow, PackRecord, settle
from linectl.line.reasons import RejectReason


def record(verdict: Verdict = Verdict.NONE, **kw: object) -> PackRecord:
    rec = PackRecord(seq=9, serial="S9", data="D9")
    rec.verdict = verdict
    for key, value in kw.items():
        setattr(rec, key, value)
    return rec


def test_a_good_verdict_written_and_passed_is_good() -> None:
    result = settle(record(Verdict.GOOD, written=True, frame_ns=1), GateOutcome.PASSED)
    assert result.good and result.reason is None and result.alarm is None


def test_a_reject_keeps_its_reason() -> None:
    rec = record(Verdict.REJECT, written=True, reason=RejectReason.LOW_GRADE, frame_ns=1)
    result = settle(rec, GateOutcome.REJECTED_CONFIRMED)
    assert not result.good and result.reason is RejectReason.LOW_GRADE


def test_a_good_verdict_the_gate_rejected_anyway_was_late() -> None:
    rec = record(Verdict.GOOD, written=False, frame_ns=1)
    assert settle(rec, GateOutcome.REJECTED_CONFIRMED).reason is RejectReason.LATE
    rec = record(Verdict.GOOD, written=True, frame_ns=1)
    assert settle(rec, GateOutcome.REJECTED_CONFIRMED).reason is RejectReason.LATE


def test_a_pack_still_being_verified_at_the_gate_was_late() -> None:
    assert settle(record(frame_ns=1), GateOutcome.REJECTED_CONFIRMED).reason is RejectReason.LATE


def test_a_pack_whose_frame_never_came_is_a_no_read() -> None:
    assert settle(record(), GateOutcome.REJECTED_CONFIRMED).reason is RejectReason.NO_READ


def test_an_unconfirmed_reject_is_scrapped_and_raises_an_alarm() -> None:
    rec = record(Verdict.REJECT, written=True, reason=RejectReason.NO_READ, frame_ns=1)
    result = settle(rec, GateOutcome.REJECTED_UNCONFIRMED)
    assert not result.good and result.reason is RejectReason.REJECT_UNCONFIRMED
    assert result.alarm is not None and "no-read" in result.alarm and "downstream" in result.alarm


def test_a_pass_without_a_good_verdict_is_never_commissioned() -> None:
    for rec in (record(), record(Verdict.REJECT, written=True, reason=RejectReason.NO_READ)):
        result = settle(rec, GateOutcome.PASSED)
        assert not result.good and result.alarm is not None


def test_a_good_whose_write_reply_was_lost_is_good_when_the_gate_passed_it() -> None:
    result = settle(record(Verdict.GOOD, written=False, frame_ns=1), GateOutcome.PASSED)
    assert result.good and result.alarm is None


def test_latency_percentiles() -> None:
    window = LatencyWindow(size=1000)
    for ms in range(1, 101):
        window.add(float(ms))
    summary = window.summary()
    assert summary["n"] == 100 and summary["p50"] == 51.0 and summary["p99"] == 100.0
    assert LatencyWindow().summary()["p99"] is None


def test_reason_codes_have_stable_distinct_plc_numbers() -> None:
    codes = [reason.plc_code for reason in RejectReason]
    assert codes == list(range(1, len(codes) + 1))
    assert RejectReason("no-print-confirmation").plc_code == 7
