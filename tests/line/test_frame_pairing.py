"""Pairing seq-less frames with the PLC's camera triggers by time (pure logic, times in ms)."""

from __future__ import annotations

import pytest

from drivers.interfaces import Frame
from linectl.line.frame_pairing import MAX_HELD, TriggerPairing

MS = 1_000_000
PITCH = 100  # ms between packs at the camera (600 packs/min)
POLL = 5
PACKS = 19  # then the line stands


def frame(n: int, at_ms: float) -> Frame:
    return Frame(n, 1, 1, bytes([n % 256]), int(at_ms * MS))


class Line:
    """PACKS packs reach the camera every PITCH ms from 1000 ms; the PLC seq is read each POLL."""

    def __init__(self, delay: tuple[float, float] = (-2, 15)) -> None:
        self.pairing = TriggerPairing(delay)
        self.t = 1000.0 - POLL
        self.paired: dict[int, int] = {}  # pack seq -> the frame's own number
        self.rejected: dict[int, str] = {}
        self.pairing.observe(0, int(self.t * MS), int((self.t + 1) * MS), int(self.t * MS))

    def seq_at(self, t: float) -> int:
        return min(PACKS, max(0, int((t - 1000) // PITCH) + 1))

    def run_until(self, end: float, frames: list[Frame]) -> None:
        pending = sorted(frames, key=lambda f: f.timestamp_ns)
        while self.t < end:
            before = self.t
            self.t += POLL
            while pending and pending[0].timestamp_ns <= self.t * MS:
                self.pairing.frame(pending.pop(0))
            sample = self.t + 0.5  # the PLC answers half a ms into the read
            self.pairing.observe(
                self.seq_at(sample), int(self.t * MS), int((self.t + 1) * MS), int(before * MS)
            )
            settled = self.pairing.settle(int((self.t + 1) * MS))
            self.paired |= {t.seq: f.seq for t, f in settled.paired}
            self.rejected |= {t.seq: why for t, why in settled.rejected}


def camera_frames(packs: int, *, delay: float = 3.0) -> list[Frame]:
    """One frame per pack, stamped ``delay`` ms after its trigger; the camera counts from 1."""
    return [frame(n, 1000 + (n - 1) * PITCH + delay) for n in range(1, packs + 1)]


def test_every_frame_goes_to_the_pack_whose_trigger_it_follows() -> None:
    line = Line()
    line.run_until(3000, camera_frames(PACKS))
    assert line.paired == {n: n for n in range(1, PACKS + 1)}
    assert not line.rejected


def test_a_lost_frame_rejects_exactly_its_pack_and_the_next_ones_stay_paired() -> None:
    frames = [f for f in camera_frames(PACKS) if f.seq != 7]
    line = Line()
    line.run_until(3000, frames)
    assert line.rejected == {7: "no frame: the camera sent none for this trigger"}
    assert line.paired == {n: n for n in range(1, PACKS + 1) if n != 7}


def test_an_extra_frame_between_two_packs_is_dropped_and_shifts_nothing() -> None:
    frames = camera_frames(PACKS)
    frames.insert(5, frame(99, 1000 + 5 * PITCH + 50))  # a spurious shot between packs 6 and 7
    line = Line()
    line.run_until(3000, frames)
    assert line.paired == {n: n for n in range(1, PACKS + 1)}
    assert not line.rejected and line.pairing.extra == 1


def test_a_second_frame_for_one_trigger_rejects_that_pack_only() -> None:
    frames = camera_frames(PACKS)
    frames.append(frame(98, 1000 + 4 * PITCH + 8))  # pack 5's trigger fired the camera twice
    line = Line()
    line.run_until(3000, frames)
    assert line.rejected == {5: "frame not paired: two frames for one trigger"}
    assert line.paired == {n: n for n in range(1, PACKS + 1) if n != 5}


def test_a_frame_that_could_belong_to_two_packs_rejects_both() -> None:
    pairing = TriggerPairing((0, 30))
    pairing.observe(0, 0, 1 * MS, 0)
    pairing.observe(2, 10 * MS, 11 * MS, 0)  # two packs reached the camera within one poll
    pairing.frame(frame(1, 5))
    pairing.observe(2, 20 * MS, 21 * MS, 10 * MS)
    settled = pairing.settle(100 * MS)
    assert not settled.paired
    assert [t.seq for t, _ in settled.rejected] == [1, 2]
    assert all("any of packs 1, 2" in why for _, why in settled.rejected)


def test_a_frame_is_held_until_every_trigger_before_it_is_known() -> None:
    pairing = TriggerPairing((0, 10))
    pairing.observe(0, 0, 1 * MS, 0)
    pairing.frame(frame(1, 12))  # the PLC read showing its trigger has not begun yet
    assert pairing.settle(13 * MS).paired == [] and len(pairing.held) == 1
    pairing.observe(1, 15 * MS, 16 * MS, 0)
    assert pairing.settle(47 * MS).paired[0][0].seq == 1  # 16 + 10 (delay) + 20 (arrival)


def test_a_trigger_settles_as_soon_as_a_later_frame_came_in() -> None:
    pairing = TriggerPairing((0, 10), arrival_ms=1000)
    pairing.observe(0, 0, 1 * MS, 0)
    pairing.observe(1, 5 * MS, 6 * MS, 0)
    pairing.frame(frame(1, 8))
    pairing.observe(2, 105 * MS, 106 * MS, 100 * MS)
    pairing.frame(frame(2, 107))  # stamped past pack 1's reach: nothing more can be 1's
    pairing.observe(2, 110 * MS, 111 * MS, 105 * MS)
    settled = pairing.settle(112 * MS)
    assert [(t.seq, f.seq) for t, f in settled.paired] == [(1, 1)]


def test_a_frame_that_comes_in_after_its_trigger_settled_is_dropped_as_late() -> None:
    pairing = TriggerPairing((0, 10), arrival_ms=5)
    pairing.observe(0, 0, 1 * MS, 0)
    pairing.observe(1, 5 * MS, 6 * MS, 0)
    pairing.observe(1, 30 * MS, 31 * MS, 5 * MS)
    assert [t.seq for t, _ in pairing.settle(30 * MS).rejected] == [1]  # no frame by 6+10+5
    pairing.frame(frame(1, 9))
    pairing.observe(1, 40 * MS, 41 * MS, 30 * MS)
    settled = pairing.settle(41 * MS)
    assert not settled.paired and not settled.rejected
    assert pairing.late == 1 and pairing.extra == 0


def test_a_window_with_max_below_min_is_refused() -> None:
    with pytest.raises(ValueError, match="max below min"):
        TriggerPairing((20, 10))


def test_a_plc_counting_again_from_lower_down_starts_new_triggers() -> None:
    pairing = TriggerPairing((0, 10), arrival_ms=0)
    pairing.observe(500, 0, 1 * MS, 0)
    pairing.observe(1, 5 * MS, 6 * MS, 0)  # the PLC restarted its count
    pairing.observe(2, 105 * MS, 106 * MS, 100 * MS)
    pairing.frame(frame(1, 107))
    pairing.observe(2, 200 * MS, 201 * MS, 105 * MS)
    settled = pairing.settle(201 * MS)
    assert [(t.seq, f.seq) for t, f in settled.paired] == [(2, 1)]


def test_frames_that_pile_up_while_no_trigger_is_known_are_capped_oldest_first() -> None:
    pairing = TriggerPairing((0.0, 20.0))
    for n in range(1, MAX_HELD + 11):  # a live source while the line stands
        pairing.frame(frame(n, 1000.0 + n))
    assert len(pairing.held) == MAX_HELD and pairing.extra == 10
    assert pairing.held[0] is not None and pairing.held[0].seq == 11
