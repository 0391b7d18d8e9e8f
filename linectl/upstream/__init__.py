"""Upstream links of the line: serial provisioning (OPEN-SCS, OPC UA) and EPCIS 2.0 event sync."""
