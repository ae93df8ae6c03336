"""Requests that wait, on the event loop, for a job to change (for instance to leave ``assigned``).

A waiter registers before it reads the job's state, then awaits: a change
committed in between still wakes it. Waiting costs no thread, so a burst of
waiting requests cannot starve the agents' reports that end the wait.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable


class JobWatchers:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[int, list[asyncio.Future]] = {}
        # Requests may wait on other replicas: set to tell them (heaven.control.replicas).
        self.relay: Callable[[list[int]], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def watch(self, job_id: int) -> asyncio.Future:
        """On the event loop: a future resolved at the job's next change."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, []).append(future)
        return future

    def forget(self, job_id: int, future: asyncio.Future) -> None:
        """On the event loop: stop watching (the waiter timed out or is done)."""
        waiting = self._waiting.get(job_id, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._waiting.pop(job_id, None)

    def changed(self, job_ids: Iterable[int]) -> None:
        """From any thread, after a commit: these jobs changed (tell every replica)."""
        ids = list(job_ids)
        if ids and self.relay is not None:
            self.relay(ids)
        self.changed_here(ids)

    def changed_here(self, job_ids: Iterable[int]) -> None:
        """Like ``changed``, for the waiters of this replica only."""
        ids = list(job_ids)
        if ids and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake, ids)

    def _wake(self, ids: list[int]) -> None:
        for job_id in ids:
            for future in self._waiting.pop(job_id, ()):
                if not future.done():
                    future.set_result(None)
