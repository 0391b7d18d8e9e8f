"""Cognex DataMan readers over DMCC: sans-IO codec (codec.py) and asyncio driver (client.py)."""
