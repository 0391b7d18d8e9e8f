"""An OPC UA subscription a test can await: every data change of the watched nodes, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asyncua.client.client import Client
from asyncua.common.node import Node

GUARD_S = 60.0


class Watch:
    """Data changes of some nodes (queue size 100 each, so no change is coalesced away)."""

    def __init__(self) -> None:
        self.changes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.seen: dict[str, list[Any]] = {}
        self._names: dict[Any, str] = {}

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        name = self._names[node.nodeid]
        self.seen.setdefault(name, []).append(val)
        self.changes.put_nowait((name, val))

    async def start(self, client: Client, nodes: dict[str, Node]) -> None:
        self._names = {node.nodeid: name for name, node in nodes.items()}
        sub = await client.create_subscription(20, self)
        await sub.subscribe_data_change(list(nodes.values()), queuesize=100)

    async def until(self, name: str, predicate: Callable[[Any], bool]) -> Any:
        """The first new value of ``name`` that satisfies ``predicate`` (or the current one)."""
        latest = self.seen.get(name, [])
        if latest and predicate(latest[-1]):
            return latest[-1]
        async with asyncio.timeout(GUARD_S):
            while True:
                got, value = await self.changes.get()
                if got == name and predicate(value):
                    return value
