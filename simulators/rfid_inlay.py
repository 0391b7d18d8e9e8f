"""The RFID inlay of a label on the virtual line: what an RFID printer's encoder writes into it.

An RFID label printer writes the job's EPC into the inlay of the label it prints, reads it back
and reports the read-back to the host (drivers.zpl.rfid). Three seeded faults, drawn per encoded
label (``[simulation.rfid]`` of the line configuration) or forced on given packs by a test:

- ``encode-failure``: the tag does not take the write; the printer voids the label (VOID
  printed across it; the simulator leaves the code readable) and reads nothing back. The pack's
  inlay holds nothing (``Pack.inlay`` None).
- ``wrong-write``: the inlay ends up holding another EPC (one bit off), and the printer does not
  notice: it reports the EPC it meant to write.
- ``weak-tag``: written and read back right, but the inlay answers weakly (``Pack.inlay_weak``):
  a reader station sees it with a low RSSI.

A pack that gets no label (the ``no-print`` defect) gets no inlay either, though the encoder
reported the write good: the label never reached the pack.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulators.line import Pack


class InlayFault(enum.StrEnum):
    """What can go wrong with a label's inlay at the printer."""

    ENCODE_FAILURE = "encode-failure"
    WRONG_WRITE = "wrong-write"
    WEAK_TAG = "weak-tag"


RATE_KEYS: Mapping[str, InlayFault] = {
    "encode_failure": InlayFault.ENCODE_FAILURE,
    "wrong_write": InlayFault.WRONG_WRITE,
    "weak_tag": InlayFault.WEAK_TAG,
}
"""``[simulation.rfid]`` keys of the printer-side rates."""


@dataclass(frozen=True, slots=True)
class Encoding:
    """One label's encoding: what the inlay holds (hex, None: nothing), what the printer read
    back and reports (hex, "": nothing, a void label), the fault drawn."""

    inlay: str | None
    readback: str
    fault: InlayFault | None
    weak: bool = False


def wrong_epc(epc: str) -> str:
    """Another EPC of the same length: bit 95 flipped (an SGTIN-96's serial, one off)."""
    raw = bytearray(bytes.fromhex(epc))
    raw[min(11, len(raw) - 1)] ^= 0x01
    return raw.hex().upper()


@dataclass
class InlayFaults:
    """Seeded per-label fault draw (its own random stream: the line's defect draws are not
    shifted by it) plus faults forced on given pack seqs."""

    seed: int = 0
    rates: dict[InlayFault, float] = field(default_factory=dict)
    forced: dict[int, InlayFault] = field(default_factory=dict)

    def __post_init__(self) -> None:
        total = sum(self.rates.values())
        if total > 1.0 or any(not 0.0 <= r <= 1.0 for r in self.rates.values()):
            raise ValueError(f"inlay fault rates must be in 0..1 and sum to at most 1, got {total}")
        self.rng = random.Random(f"inlay-{self.seed}")

    def draw(self, seq: int) -> InlayFault | None:
        x = self.rng.random()  # drawn for every label, forced or not: the stream stays aligned
        if seq in self.forced:
            return self.forced[seq]
        for fault, rate in sorted(self.rates.items()):
            if x < rate:
                return fault
            x -= rate
        return None

    def encode(self, pack: Pack, epc: str, *, labelled: bool) -> Encoding:
        """Encode ``epc`` into the label going on ``pack`` (``labelled``: it reaches the pack)."""
        epc = epc.upper()
        fault = self.draw(pack.seq)
        if fault is InlayFault.ENCODE_FAILURE:
            result = Encoding(None, "", fault)
        elif fault is InlayFault.WRONG_WRITE:
            result = Encoding(wrong_epc(epc), epc, fault)
        else:
            result = Encoding(epc, epc, fault, weak=fault is InlayFault.WEAK_TAG)
        if labelled:
            pack.inlay = None if result.inlay is None else bytes.fromhex(result.inlay)
            pack.inlay_weak = result.weak
        return result
