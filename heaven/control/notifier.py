"""Wakes agents that long-poll for their assignments.

Each node has a generation number that grows whenever what should run on it
changes. The numbers start from the controller's start time in milliseconds,
so after a restart every agent's remembered generation is stale and it fetches
its assignments at once.

When the controller stops, ``close()`` answers every held long-poll at once:
the server would otherwise wait for them (up to the agents' 25 s) before it
can stop, then cancel them, each with a traceback.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class NodeNotifier:
    def __init__(self) -> None:
        self._base = int(time.time() * 1000)
        self._generation: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Other replicas' agents long-poll too: set to tell them (heaven.control.replicas).
        self.relay: Callable[[list[str]], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def closed(self) -> bool:
        """The controller is stopping: streams and long-polls should end now."""
        return self._closed

    def generation(self, node: str) -> int:
        return self._generation.get(node, self._base)

    def touch(self, nodes) -> None:
        """Callable from any thread: the assignments of ``nodes`` changed (here and on every replica)."""
        nodes = list(nodes)
        if nodes and self.relay is not None:
            self.relay(nodes)
        self.touch_here(nodes)

    def touch_here(self, nodes) -> None:
        """Like ``touch``, for the agents of this replica only (what another replica told us)."""
        nodes = list(nodes)
        if not nodes or self._loop is None:
            return
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._bump(nodes)))

    async def _bump(self, nodes: list[str]) -> None:
        async with self._changed:
            for node in nodes:
                self._generation[node] = self.generation(node) + 1
            self._changed.notify_all()

    async def close(self) -> None:
        """On the event loop, as the controller stops: held and later waits return at once."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    async def wait(self, node: str, seen: int, timeout: float) -> int:
        """Return the node's generation as soon as it differs from ``seen`` (or on timeout, or on close)."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):  # not wait_for (see Controller.run)
                    await self._changed.wait_for(lambda: self._closed or self.generation(node) != seen)
            except TimeoutError:
                pass
            return self.generation(node)
