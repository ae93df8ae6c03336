"""Group commit for submissions: requests that arrive together share one transaction.

Under load most of a submission's cost is the transaction (the write lock, the
commit); batching what queued up while the previous batch was written makes
that cost per batch, not per job. Each submission is still checked on its own:
a refused one gets its own 4xx and the others are written.
"""
from __future__ import annotations

import asyncio
import logging

from heaven.control import job_service
from heaven.control.errors import ApiError
from heaven.control.runtime import Controller
from heaven.store.snapshot import load_nodes

log = logging.getLogger("heaven.controller")
MAX_BATCH = 500


class SubmitBatcher:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._queue: asyncio.Queue | None = None

    async def submit(self, values: dict, actor: str) -> dict:
        """Queue one submission; returns its new job row or raises its ApiError."""
        done = asyncio.get_running_loop().create_future()
        await self._queue.put((values, actor, done))
        return await done

    async def run(self) -> None:
        self._queue = asyncio.Queue()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # the store failed: every caller hears it, nothing was written
                log.exception("writing %d submissions failed", len(batch))
                error = ApiError(503, "store_unavailable", f"the job store could not be written: {exc}")
                outcomes = [error] * len(batch)
            for (_, _, done), outcome in zip(batch, outcomes):
                if done.cancelled():
                    continue
                if isinstance(outcome, ApiError):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)
            self.ctl.wake(new_jobs_only=True)

    def _write(self, batch: list) -> list:
        with self.ctl.store.begin() as conn:
            nodes, now = load_nodes(conn), self.ctl.clock()
            outcomes = []
            for values, actor, _ in batch:
                try:
                    outcomes.append(job_service.insert_checked(conn, values, nodes, now, actor))
                except ApiError as refused:  # checked before its insert: nothing of it was written
                    outcomes.append(refused)
            return outcomes
