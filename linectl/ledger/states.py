"""The twelve OPEN-SCS serial number states and the transitions the ledger allows between them.

Names and numbers are those of ``OPENSCSSerialNumberStateEnum`` (ns=1;i=15143) in the OPC UA
OPEN-SCS NodeSet (OPC 30260), so a value stored in the ledger is the value sent over OPC UA.

The OPEN-SCS PSS draws the state model as a figure (OPC 30260 §4.1.4, Figure 4) that is not
available as text; its Note 4 says "generally the events that record a transition can come from
any state", because state is managed in a distributed way. A line ledger is the system that must
never print a serial twice, so it is deliberately stricter. The table below follows the state
definitions (Table 1 of §4.1.4), the pool-manager methods (SNReturnUnallocated,
SNReturnAllocated, SNtoAllocated, SNtoEncoded, SNInvalidatingEvent) and the line's own flow:

- Unassigned -> Unallocated: the serial is assigned to a production/packaging site.
- Unassigned -> SNInvalid, Unallocated -> SNInvalid, Allocated -> SNInvalid: the serial is voided
  before anything was printed (e.g. a cancelled process order).
- Unallocated -> Allocated: allocated to one production run (SNtoAllocated / SNRequestAllocated).
- Unallocated -> Unassigned: returned to the issuer's unassigned pool (SNReturnUnallocated).
- Allocated -> Unallocated: an unused serial returned upstream at batch close (SNReturnAllocated).
- Allocated -> Encoded: write-ahead before the printer marks it (SNtoEncoded). Never back: once
  a serial may be on a pack it cannot become printable again.
- Encoded -> Commissioned: the camera verified the pack good.
- Encoded -> LabelScrapped: rejected, or lost in a crash between write-ahead and verdict.
- Encoded -> LabelSampled: the printed label is retained as a sample.
  There is no Encoded -> SNInvalid: a printed code exists and must be accounted as scrapped.
- Commissioned -> Sampled | Inactive (decommissioned) | Destroyed | Released (left production).
- Sampled -> Destroyed: a sample consumed in testing reaches end of life.
- Inactive -> Destroyed: a decommissioned pack is later physically destroyed.
- Released -> Commissioned: a shipped case or pallet came back (``linectl receive``); its packs
  are the line's again and may then be decommissioned or reworked.
- SNInvalid, LabelSampled, LabelScrapped and Destroyed are terminal for the line:
  SNInvalid "will not be the subject of subsequent events" (Table 1).
  Re-commissioning an Inactive serial is refused: pharmaceutical serials are never reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum


class SerialState(IntEnum):
    """OPEN-SCS serial number state; the value is the OPC UA enumeration value."""

    UNASSIGNED = 0
    UNALLOCATED = 1
    ALLOCATED = 2
    SN_INVALID = 3
    ENCODED = 4
    LABEL_SAMPLED = 5
    LABEL_SCRAPPED = 6
    COMMISSIONED = 7
    SAMPLED = 8
    INACTIVE = 9
    DESTROYED = 10
    RELEASED = 11

    @property
    def label(self) -> str:
        """The OPEN-SCS spelling (``SNInvalid``, ``LabelScrapped``) used in messages and reports."""
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> SerialState:
        """A state from its OPEN-SCS label, member name or number, case-insensitively."""
        key = text.strip().replace("_", "").replace("-", "").lower()
        for state in cls:
            if key in (state.label.lower(), state.name.replace("_", "").lower(), str(state.value)):
                return state
        known = ", ".join(s.label for s in cls)
        raise ValueError(f"unknown serial state {text!r}; known states: {known}")


_LABELS: Mapping[SerialState, str] = {
    SerialState.UNASSIGNED: "Unassigned",
    SerialState.UNALLOCATED: "Unallocated",
    SerialState.ALLOCATED: "Allocated",
    SerialState.SN_INVALID: "SNInvalid",
    SerialState.ENCODED: "Encoded",
    SerialState.LABEL_SAMPLED: "LabelSampled",
    SerialState.LABEL_SCRAPPED: "LabelScrapped",
    SerialState.COMMISSIONED: "Commissioned",
    SerialState.SAMPLED: "Sampled",
    SerialState.INACTIVE: "Inactive",
    SerialState.DESTROYED: "Destroyed",
    SerialState.RELEASED: "Released",
}

_S = SerialState

TRANSITIONS: Mapping[SerialState, frozenset[SerialState]] = {
    _S.UNASSIGNED: frozenset({_S.UNALLOCATED, _S.SN_INVALID}),
    _S.UNALLOCATED: frozenset({_S.ALLOCATED, _S.UNASSIGNED, _S.SN_INVALID}),
    _S.ALLOCATED: frozenset({_S.ENCODED, _S.UNALLOCATED, _S.SN_INVALID}),
    _S.SN_INVALID: frozenset(),
    _S.ENCODED: frozenset({_S.COMMISSIONED, _S.LABEL_SCRAPPED, _S.LABEL_SAMPLED}),
    _S.LABEL_SAMPLED: frozenset(),
    _S.LABEL_SCRAPPED: frozenset(),
    _S.COMMISSIONED: frozenset({_S.SAMPLED, _S.INACTIVE, _S.DESTROYED, _S.RELEASED}),
    _S.SAMPLED: frozenset({_S.DESTROYED}),
    _S.INACTIVE: frozenset({_S.DESTROYED}),
    _S.DESTROYED: frozenset(),
    _S.RELEASED: frozenset({_S.COMMISSIONED}),
}
"""Legal transitions: ``TRANSITIONS[from_state]`` is the set of states it may move to."""

TERMINAL: frozenset[SerialState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
"""States no serial leaves once in them."""


def is_legal(from_state: SerialState, to_state: SerialState) -> bool:
    """True when the ledger allows a serial in ``from_state`` to move to ``to_state``."""
    return to_state in TRANSITIONS[from_state]
