"""The OPC UA server for SCADA and MES: the line as a PackML object (OPC 30050) plus its
serialization data, served by ``linectl opcua``, its own process.

Like the HMI it observes the line only through the control API's event stream and status, and
drives it only through the control API's commands, with the logged-in user's own session.
"""
