"""Keyence SR-series readers: sans-IO codec (codec.py) and asyncio driver (client.py)."""
