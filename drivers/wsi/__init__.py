"""Videojet WSI (Willett simple protocol) over TCP 3100 or RS-232: sans-IO codec, asyncio client."""
