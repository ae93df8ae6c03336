"""Numbers that grow when a committed write changed something, and waits on the event
loop for them to move: the one mechanism behind every "tell me when it changes" here.

- the agents' long-polls wait on their node's number (``heaven.control.notifier``);
- the dashboard's streams wait on the ``ChangeBell``, rung after every commit that
  recorded an event (``Store.after_events``): a submission, a placement plan applied,
  an exit, a cancel, a node's change.

A change is told from any thread (the request and scheduler threads commit), and told
to the other replicas through ``relay`` (heaven.control.replicas). When the controller
stops, ``close()`` answers every held wait at once: the server would otherwise wait
for them before it can stop, then cancel them, each with a traceback.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable


class Generations:
    """A generation number per key, starting from the controller's start time in
    milliseconds, so that after a restart every number a waiter remembers is stale."""

    def __init__(self) -> None:
        self._base = int(time.time() * 1000)
        self._generation: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Waiters on other replicas: set to tell them (heaven.control.replicas).
        self.relay: Callable[[list[str]], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def closed(self) -> bool:
        """The controller is stopping: streams and long-polls should end now."""
        return self._closed

    def generation(self, key: str) -> int:
        return self._generation.get(key, self._base)

    def touch(self, keys: Iterable[str]) -> None:
        """Callable from any thread, after a commit: ``keys`` changed (here and on every replica)."""
        keys = list(keys)
        if keys and self.relay is not None:
            self.relay(keys)
        self.touch_here(keys)

    def touch_here(self, keys: Iterable[str]) -> None:
        """Like ``touch``, for the waiters of this replica only (what another replica told us)."""
        keys = list(keys)
        if not keys or self._loop is None:
            return
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._bump(keys)))

    async def _bump(self, keys: list[str]) -> None:
        async with self._changed:
            for key in keys:
                self._generation[key] = self.generation(key) + 1
            self._changed.notify_all()

    async def close(self) -> None:
        """On the event loop, as the controller stops: held and later waits return at once."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    async def wait(self, key: str, seen: int, timeout: float) -> int:
        """Return the key's generation as soon as it differs from ``seen`` (or on timeout, or on close)."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):  # not wait_for (see Controller.run)
                    await self._changed.wait_for(lambda: self._closed or self.generation(key) != seen)
            except TimeoutError:
                pass
            return self.generation(key)


class ChangeBell(Generations):
    """Rung after every commit that may have changed what the dashboard shows."""

    KEY = "view"

    def ring(self) -> None:
        """From any thread, after a commit (here and on every replica)."""
        self.touch([self.KEY])

    def ring_here(self) -> None:
        self.touch_here([self.KEY])

    @property
    def rung(self) -> int:
        """Read it before reading the store: a commit in between still ends the next ``wait_ring``."""
        return self.generation(self.KEY)

    async def wait_ring(self, seen: int, timeout: float, settle: float) -> int:
        """Wait until the bell rang since ``seen`` (or timeout, or close), then ``settle``
        seconds more: the commits of one burst (a submission, then the cycle that places
        it a few ms later) are read together and sent as one change."""
        rung = await self.wait(self.KEY, seen, timeout)
        if rung != seen and not self.closed:
            await asyncio.sleep(settle)
        return self.rung
