"""GS1 identifiers: check digits, element strings, scanned-data parsing, EPC URN and Digital Link."""
