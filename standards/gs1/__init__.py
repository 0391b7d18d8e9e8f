"""GS1 identifiers: check digits, element strings, scan parsing, EPC URN and Digital Link."""
