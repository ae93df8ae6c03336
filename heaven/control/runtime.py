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
from heaven.store import events, jobs
from heaven.store.engine import Store
from heaven.store.snapshot import UsagePolicy

log = logging.getLogger("heaven.controller")
LIGHT_CYCLE_DELAY = 0.003  # seconds; part of submit->running latency, so kept well under its 50 ms goal
# A cycle woken by an event (an exit, a cancel) looks at this many jobs at the head of the
# queue; the interval cycle looks at all of them (and refreshes every waiting reason).
EVENT_CYCLE_HEAD = 64


class Controller:
    def __init__(self, settings: ControllerSettings, store: Store, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.config = SchedulerConfig(
            policy=settings.policy, order=settings.order, placement=settings.placement,
            steal=settings.steal != "off", headroom=settings.steal_headroom, cooldown=settings.steal_cooldown,
            min_cores=settings.min_cores_per_job, preempt=settings.preempt, victim_order=settings.victim_order,
        )
        self.usage = UsagePolicy(warmup=settings.steal_warmup)
        self.reservation = None  # what the last plan promised the blocked head
        self._recommended: set = set()
        self.notifier = NodeNotifier()
        self.cycles = 0
        self.last_counts: dict[str, int] = {}
        self._wake: asyncio.Event | None = None
        # Only new submissions since the last cycle: a light cycle over just them can
        # place whatever a full one would (greedy policy: capacity did not grow, and the
        # older jobs already did not fit it). The interval cycle is always full.
        self._full = True
        self._seen = 0  # the newest job id a cycle has considered
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_placed: list[Callable[[Applied], None]] = []

    # -- waking and running cycles -------------------------------------------------
    def wake(self, new_jobs_only: bool = False) -> None:
        """Callable from any thread: run a cycle soon (a light one if only jobs were submitted)."""
        if not new_jobs_only:
            self._full = True
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def rng(self) -> random.Random:
        # A fresh seeded source per cycle: replaying a cycle gives the same plan.
        return random.Random(self.cycles)

    def cycle_in(self, conn, full: bool = True, whole_queue: bool = True) -> tuple[Plan, Applied]:
        """Run one cycle inside the caller's unit of work.

        ``full=False``: only jobs submitted since the last cycle (greedy policy only);
        ``whole_queue=False``: only the head of the queue (priority order only)."""
        now = self.clock()
        greedy = self.config.policy == "greedy"
        seen = self._seen
        self._seen = jobs.newest_id(conn)
        head = None if whole_queue or not greedy or self.config.order != "priority" else EVENT_CYCLE_HEAD
        plan, applied, recommended = run_cycle(conn, self.config, now, self.rng(), self.usage, self.reservation,
                                               recommend_only=self.settings.steal == "recommend",
                                               pending_after=seen if not full and greedy else None,
                                               pending_limit=head)
        self.reservation = plan.reservation
        self.cycles += 1
        self.last_counts = plan.counts.as_dict()
        self._record_recommendations(conn, recommended, now)
        return plan, applied

    def _record_recommendations(self, conn, recommended: list, now: float) -> None:
        """recommend-only mode: one event per new proposal, not one per cycle."""
        fresh = set(recommended) - self._recommended
        self._recommended = set(recommended)
        for change in sorted(fresh, key=lambda c: c.job_id):
            cores = getattr(change, "cores_removed", None) or change.cores_added
            verb = "shrink" if hasattr(change, "cores_removed") else "grow"
            events.record(conn, now, "recommend", f"would {verb} job {change.job_id} by cores {list(cores)}",
                          job=change.job_id, node=change.node)

    def cycle_now(self, full: bool = True, whole_queue: bool = True) -> Applied:
        with self.store.begin() as conn:
            return self.cycle_in(conn, full, whole_queue)[1]

    def placed(self, applied: Applied) -> None:
        """After a committed cycle: wake the agents whose assignments changed."""
        if applied.nodes:
            self.notifier.touch(applied.nodes)
        if applied.placed:
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
                full, whole_queue = self._full, False
            except TimeoutError:
                full, whole_queue = True, True
            if not full:
                # Only submissions woke us: let the ones arriving right behind join this cycle.
                await asyncio.sleep(LIGHT_CYCLE_DELAY)
                full = self._full
            self._wake.clear()
            self._full = False
            try:
                started = time.monotonic()
                applied = await asyncio.to_thread(self.cycle_now, full, whole_queue)
                self.placed(applied)
                # Under a flood of wake-ups, leave the store to requests at least as long as a cycle took.
                await asyncio.sleep(min(0.05, time.monotonic() - started))
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 1.0
                    await asyncio.to_thread(self.sweep)
            except Exception:  # a failed cycle must not stop the loop; the next one retries
                log.exception("scheduling cycle failed")
                await asyncio.sleep(0.2)
