"""Zebra ZPL II printers over raw TCP (port 9100): sans-IO codec and asyncio client."""
