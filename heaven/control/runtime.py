"""The controller's long-lived parts: store, notifier, scheduler loop, clock.

The scheduler loop runs a cycle on an interval and whenever something wakes it
(submit, exit, a node coming up). Cycles run in a worker thread so the event
loop keeps serving; the database lock serializes them with request-driven cycles.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from heaven.config import ControllerSettings
from heaven.control.cycle import run_cycle, stop_overdue, sweep_silent_nodes
from heaven.control.notifier import NodeNotifier
from heaven.core import Plan, SchedulerConfig
from heaven.store.apply import Applied
from heaven.store.engine import Store

log = logging.getLogger("heaven.controller")


class Controller:
    def __init__(self, settings: ControllerSettings, store: Store, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.config = SchedulerConfig(policy=settings.policy, placement=settings.placement)
        self.notifier = NodeNotifier()
        self.cycles = 0
        self.last_counts: dict[str, int] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_placed: list[Callable[[Applied], None]] = []

    # -- waking and running cycles -------------------------------------------------
    def wake(self) -> None:
        """Callable from any thread: run a cycle soon."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def rng(self) -> random.Random:
        # A fresh seeded source per cycle: replaying a cycle gives the same plan.
        return random.Random(self.cycles)

    def cycle_in(self, conn) -> tuple[Plan, Applied]:
        """Run one cycle inside the caller's unit of work."""
        plan, applied = run_cycle(conn, self.config, self.clock(), self.rng())
        self.cycles += 1
        self.last_counts = plan.counts.as_dict()
        return plan, applied

    def cycle_now(self) -> Applied:
        with self.store.begin() as conn:
            return self.cycle_in(conn)[1]

    def placed(self, applied: Applied) -> None:
        """After a committed cycle: wake the agents whose assignments changed."""
        if applied.placed:
            self.notifier.touch(applied.nodes)
            for hook in self.on_placed:
                hook(applied)

    def sweep(self) -> None:
        with self.store.begin() as conn:
            overdue = stop_overdue(conn, self.clock())
        if overdue:
            self.notifier.touch(overdue)
            self.wake()
        with self.store.begin() as conn:
            gone = sweep_silent_nodes(conn, self.clock(), self.settings.node_timeout)
        if gone:
            log.warning("nodes down: %s", ", ".join(sorted(gone)))
            self.notifier.touch(gone)  # if the agent still listens, it learns at once what it must stop
            self.wake()

    # -- the background task ------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.notifier.bind(self._loop)
        next_sweep = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.scheduler_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                applied = await asyncio.to_thread(self.cycle_now)
                self.placed(applied)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 1.0
                    await asyncio.to_thread(self.sweep)
            except Exception:  # a failed cycle must not stop the loop; the next one retries
                log.exception("scheduling cycle failed")
                await asyncio.sleep(0.2)
