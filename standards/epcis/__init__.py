"""EPCIS 2.0: event hash, event builders for the line, EPCIS documents."""
