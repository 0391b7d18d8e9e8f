"""PackML state and command numbers and the state model's transitions, as a PLC implements them.

State numbers are the ``StateNumber`` values of OPC 30050 (PackML NodeSet, ISA-TR88.00.02); the
transitions follow the NodeSet's FromState/ToState/HasCause references, with its superstates
(``Running`` = Resetting..Complete, ``Cleared`` = Running + Stopping/Stopped/Clearing) expanded.
Command numbers are the PackTags ``Command.CntrlCmd`` values of ISA-TR88.00.02 (the NodeSet models
commands as methods and gives them no numbers).
"""

from __future__ import annotations

import enum
from types import MappingProxyType


class PackMLState(enum.IntEnum):
    """The line's state; 0 is Undefined (a PLC that has not initialised its state model)."""

    UNDEFINED = 0
    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETE = 17


class PackMLCommand(enum.IntEnum):
    """Commands the host writes to the PLC (PackTags CntrlCmd numbers)."""

    RESET = 1
    START = 2
    STOP = 3
    HOLD = 4
    UNHOLD = 5
    SUSPEND = 6
    UNSUSPEND = 7
    ABORT = 8
    CLEAR = 9


S = PackMLState

#: The NodeSet's ``Running`` superstate.
RUNNING_STATES = frozenset(
    {
        S.RESETTING,
        S.IDLE,
        S.STARTING,
        S.EXECUTE,
        S.HOLDING,
        S.HELD,
        S.UNHOLDING,
        S.SUSPENDING,
        S.SUSPENDED,
        S.UNSUSPENDING,
        S.COMPLETING,
        S.COMPLETE,
    }
)
#: The NodeSet's ``Cleared`` superstate (everything but Aborting/Aborted).
CLEARED_STATES = RUNNING_STATES | {S.STOPPING, S.STOPPED, S.CLEARING}

#: Acting states and the wait (or Execute) state each ends in when its work is done ("SC").
STATE_COMPLETE = MappingProxyType(
    {
        S.RESETTING: S.IDLE,
        S.STARTING: S.EXECUTE,
        S.SUSPENDING: S.SUSPENDED,
        S.UNSUSPENDING: S.EXECUTE,
        S.HOLDING: S.HELD,
        S.UNHOLDING: S.EXECUTE,
        S.COMPLETING: S.COMPLETE,
        S.STOPPING: S.STOPPED,
        S.CLEARING: S.STOPPED,
        S.ABORTING: S.ABORTED,
    }
)


def _transitions() -> dict[tuple[PackMLState, PackMLCommand], PackMLState]:
    c = PackMLCommand
    table: dict[tuple[PackMLState, PackMLCommand], PackMLState] = {
        (S.STOPPED, c.RESET): S.RESETTING,
        (S.COMPLETE, c.RESET): S.RESETTING,
        (S.IDLE, c.START): S.STARTING,
        (S.EXECUTE, c.SUSPEND): S.SUSPENDING,
        (S.SUSPENDED, c.UNSUSPEND): S.UNSUSPENDING,
        (S.HELD, c.UNHOLD): S.UNHOLDING,
        (S.ABORTED, c.CLEAR): S.CLEARING,
    }
    for state in (S.EXECUTE, S.STARTING, S.UNSUSPENDING, S.SUSPENDED, S.SUSPENDING, S.UNHOLDING):
        table[(state, c.HOLD)] = S.HOLDING
    for state in RUNNING_STATES:
        table[(state, c.STOP)] = S.STOPPING
    for state in CLEARED_STATES:
        table[(state, c.ABORT)] = S.ABORTING
    return table


#: (state, command) -> the state the command moves the line to; absent pairs are not allowed.
TRANSITIONS = MappingProxyType(_transitions())


def next_state(state: PackMLState, command: PackMLCommand) -> PackMLState | None:
    """The state ``command`` leads to from ``state``, or None when PackML does not allow it."""
    return TRANSITIONS.get((state, command))


#: States in which the conveyor moves packs.
PRODUCING_STATES = frozenset({S.EXECUTE})
