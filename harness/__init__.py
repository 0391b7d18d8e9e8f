"""The demo and bench harness: runs the simulators and the daemon as processes, knows the truth.

It sits above both ``linectl`` and ``simulators`` (it may import either, neither imports it), so
the simulated line's geometry and defects come from the simulators themselves, and what the
daemon decided comes from the ledger's own functions.
"""
