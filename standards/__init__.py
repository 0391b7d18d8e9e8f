"""Pure standards code: GS1, EPCIS, OPEN-SCS and PackML. No I/O; imported by every other layer."""
