"""LLRP (EPCglobal Low Level Reader Protocol 1.0.1/1.1): fixed UHF RFID readers, host side."""
