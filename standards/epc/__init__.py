"""EPC binary encodings for RFID tag memory (GS1 EPC Tag Data Standard): SGTIN-96/198, SSCC-96."""
