"""The line PLC: one signal map (``signals``) served over Modbus TCP (``modbus.ModbusPlc``) and
OPC UA (``opcua.OpcUaPlc``). Import the transport module you need; each pulls in its library."""
