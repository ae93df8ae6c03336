"""The controller's long-lived parts: store, notifier, scheduler loop, clock.

The scheduler loop is the one writer of scheduling decisions. It runs a cycle
on an interval and whenever something wakes it (submit, exit, a node coming
up), in a worker thread so the event loop keeps serving. A request that wants
an answer now (``--no-wait``, the original ``/request``) does not run a cycle
itself: it hands the loop a ``Decision`` and waits for the outcome. The loop's
memory of the queue (what it has seen, the head's reservation) moves only after
a cycle's transaction committed, so a refused request changes nothing of it.

With several replicas on one PostgreSQL (heaven.control.leadership), only the
leader runs the loop and the sweep, each write fenced with its epoch; the others
serve the API and wake the leader through ``relay_wake`` (heaven.control.replicas).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from heaven.config import ControllerSettings, fairshare_weights
from heaven.control.cycle import requeue_unstarted, run_cycle, stop_overdue, sweep_silent_nodes
from heaven.control.errors import ApiError
from heaven.control.leadership import Leadership
from heaven.control.metrics import Metrics
from heaven.control.changes import ChangeBell
from heaven.control.notifier import NodeNotifier
from heaven.control.watchers import JobWatchers
from heaven.core import Plan, SchedulerConfig
from heaven.core.config import FairShare
from heaven.core.queue import FIELD_KEYS
from heaven.core.reasons import Reason
from heaven.store.apply import Applied, lock_core_map
from heaven.store import events, jobs
from heaven.store import leadership as epochs
from heaven.store.engine import Store
from heaven.store.snapshot import UsagePolicy

log = logging.getLogger("heaven.controller")


class NotPlaced(Exception):
    """A ``keep=False`` decision: the job could not start now; nothing was written."""

    def __init__(self, reason: Reason | None) -> None:
        super().__init__(str(reason) if reason else "the job could not start now")
        self.reason = reason


LIGHT_CYCLE_DELAY = 0.003  # seconds; part of submit->running latency, so kept well under its 50 ms goal
# A cycle woken by an event (an exit, a cancel) looks at this many jobs at the head of the
# queue; the interval cycle looks at all of them (and refreshes every waiting reason).
EVENT_CYCLE_HEAD = 64


@dataclass
class Decision:
    """A request's question to the scheduler loop: write a job (``write`` runs inside
    the loop's transaction and returns its id), then may it start now?
    ``keep=False``: if it cannot start, the whole transaction rolls back. The outcome
    is the job's id (the caller reads its state)."""

    write: Callable[[object], int]
    keep: bool
    outcome: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class _Refused(Exception):
    """Rolls back a ``keep=False`` decision's transaction."""


class Controller:
    def __init__(self, settings: ControllerSettings, store: Store, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.config = SchedulerConfig(
            policy=settings.policy, order=settings.order, placement=settings.placement,
            steal=settings.steal != "off", headroom=settings.steal_headroom, cooldown=settings.steal_cooldown,
            min_cores=settings.min_cores_per_job, preempt=settings.preempt, victim_order=settings.victim_order,
            giveback=settings.giveback,
            fair_share=FairShare(settings.fairshare_half_life, fairshare_weights(settings.fairshare_weights))
            if settings.fairshare else None,
        )
        self.usage = UsagePolicy(warmup=settings.steal_warmup)
        self.reservation = None  # what the last plan promised the blocked head
        self._recommended: set = set()
        self.notifier = NodeNotifier()
        # What the dashboard shows changed: rung after every commit that recorded an event.
        self.changes = ChangeBell()
        store.after_events = self.changes.ring
        self.cycles = 0
        self.metrics = Metrics()
        self.last_counts: dict[str, int] = {}
        # Why each pending job waited at the last cycle over the whole queue (job -> reason code):
        # the autoscaler's unschedulable demand. Replaced whole, never changed in place, so
        # another thread may read it at any moment.
        self.waiting_codes: dict[int, str] = {}
        self._wake: asyncio.Event | None = None
        # Only new submissions since the last cycle: a light cycle over just them can
        # place whatever a full one would (greedy policy: capacity did not grow, and the
        # older jobs already did not fit it). The interval cycle is always full.
        self._full = True
        self._seen = 0  # the newest job id a cycle has considered
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_placed: list[Callable[[Applied], None]] = []
        self._decisions: list[Decision] = []
        self._decisions_lock = threading.Lock()
        self.watchers = JobWatchers()  # requests waiting for a job to change (the original /request)
        self._last_whole = 0.0  # monotonic time of the last cycle over the whole queue
        self.leadership = Leadership(store, settings.advertise_url or f"http://{settings.host}:{settings.port}", clock)
        self.relay_wake: Callable[[], None] | None = None  # tells the leader on another replica
        # The epoch the loop's memory of the queue belongs to, and the fence of every plan and
        # sweep it writes: the epoch its iteration began under, not whatever leadership says at
        # write time (a step-down meanwhile leaves None there, which would write unfenced).
        self._led = None
        # No node is swept down before this (monotonic) time: after a take-over (or a start),
        # agents get a whole node timeout to reach the new leader, as Nomad resets its
        # heartbeat timers on a leader change. While no controller answered, none could.
        self._sweep_nodes_after = 0.0

    def wake(self, new_jobs_only: bool = False) -> None:
        """Callable from any thread: run a cycle soon (a light one if only jobs were submitted),
        here if this replica leads, else on the leader."""
        if self.relay_wake is not None and not self.leadership.is_leader:
            self.relay_wake()
        self.wake_here(new_jobs_only)

    def wake_here(self, new_jobs_only: bool = False) -> None:
        """Like ``wake``, for this replica's loop only. Another replica's submissions take a
        full wake: their job ids may commit out of order with the ones this loop has seen."""
        if not new_jobs_only:
            self._full = True
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def rng(self) -> random.Random:
        # A fresh seeded source per cycle: replaying a cycle gives the same plan.
        return random.Random(self.cycles)

    def cycle_in(self, conn, full: bool = True, whole_queue: bool = True) -> tuple[Plan, Applied, Callable[[], None]]:
        """Run one cycle inside the caller's unit of work; returns the plan, what was
        applied, and what the controller must remember once (and only if) it commits.

        ``full=False``: only jobs submitted since the last cycle (greedy policy only);
        ``whole_queue=False``: only the head of the queue (orderings of plain fields only)."""
        began = time.perf_counter()  # how long the cycle takes (a duration, not the scheduler's clock)
        now = self.clock()
        greedy = self.config.policy == "greedy"
        seen = jobs.newest_id(conn)
        # The head read in a plain ordering is not fair share's head: with it on, every cycle reads the whole queue.
        head = None if whole_queue or not greedy or self.config.order not in FIELD_KEYS \
            or self.config.fair_share is not None else EVENT_CYCLE_HEAD
        plan, applied, recommended = run_cycle(conn, self.config, now, self.rng(), self.usage, self.reservation,
                                               recommend_only=self.settings.steal == "recommend",
                                               pending_after=self._seen if not full and greedy else None,
                                               pending_limit=head, fence=self._led)
        self._record_recommendations(conn, recommended, now)
        elapsed = time.perf_counter() - began

        def remember() -> None:
            self.metrics.cycle(elapsed, plan.counts.as_dict())
            self._seen = seen
            self.reservation = plan.reservation
            self.cycles += 1
            self.last_counts = plan.counts.as_dict()
            self._recommended = set(recommended)
            if full and whole_queue:
                self.waiting_codes = {job: reason.code for job, reason in plan.waiting.items()}
        return plan, applied, remember

    def _record_recommendations(self, conn, recommended: list, now: float) -> None:
        """recommend-only mode: one event per new proposal, not one per cycle."""
        fresh = set(recommended) - self._recommended
        for change in sorted(fresh, key=lambda c: c.job_id):
            cores = getattr(change, "cores_removed", None) or change.cores_added
            verb = "shrink" if hasattr(change, "cores_removed") else "grow"
            events.record(conn, now, "recommend", f"would {verb} job {change.job_id} by cores {list(cores)}",
                          job=change.job_id, node=change.node)

    def cycle_now(self, full: bool = True, whole_queue: bool = True) -> Applied:
        with self.store.begin() as conn:
            _, applied, remember = self.cycle_in(conn, full, whole_queue)
        remember()
        return applied

    # -- decisions asked by requests ------------------------------------------------------
    async def decide(self, write: Callable[[object], int], keep: bool, timeout: float = 30.0) -> int:
        """On the event loop: have the scheduler loop write a job and run a cycle; await the
        job's id. Raises what ``write`` raised, or ``NotPlaced`` (with the reason) when
        ``keep`` is false and the job could not start.
        On a replica that does not lead, a ``keep`` decision is written under the core-map
        lock (what serializes it with the leader's cycles) and the leader woken; one that
        needs the scheduler's answer now is refused with 503 ``not_leader``."""
        if not self.leadership.is_leader:
            if not keep:
                raise await asyncio.to_thread(self.not_leader)
            return await asyncio.to_thread(self._write_as_follower, write)
        decision = Decision(write, keep)
        with self._decisions_lock:
            self._decisions.append(decision)
        if self._wake is not None:  # a decision runs its own whole-queue cycle: no full cycle is asked
            self._loop.call_soon_threadsafe(self._wake.set)
        answer = asyncio.wrap_future(decision.outcome)
        done, _ = await asyncio.wait({answer}, timeout=timeout)
        if not done and decision.outcome.cancel():  # withdrawn before the loop took it: nothing written
            raise ApiError(503, "scheduler_busy", f"the scheduler did not answer within {timeout:g}s; "
                                                  "nothing was written", None)
        return await answer  # taken already: its answer comes

    def not_leader(self) -> ApiError:
        with self.store.read() as conn:
            url = epochs.current(conn)["url"]
        return ApiError(503, "not_leader", "this replica does not run the scheduler; ask the leader"
                        + (f" at {url}" if url else "") + "; nothing was written", None)

    def _write_as_follower(self, write: Callable[[object], int]) -> int:
        with self.store.begin() as conn:
            lock_core_map(conn)
            job_id = write(conn)
        self.wake()
        return job_id

    def _fail_decisions(self) -> None:
        """Decisions asked of a leader that stepped down meanwhile: refused, nothing written."""
        with self._decisions_lock:
            decisions, self._decisions = self._decisions, []
        for decision in decisions:
            if decision.outcome.set_running_or_notify_cancel():
                decision.outcome.set_exception(ApiError(503, "not_leader", "this replica stopped leading; "
                                                        "nothing was written", None))

    def _decide_all(self) -> tuple[list[Applied], bool]:
        """Every decision asked so far, in order; returns what was applied and whether all of
        them committed (a refused one rolled its cycle back, so a regular cycle must run)."""
        with self._decisions_lock:
            decisions, self._decisions = self._decisions, []
        done, committed = [], True
        for decision in decisions:
            if not decision.outcome.set_running_or_notify_cancel():
                continue
            try:
                outcome, applied = self._decide(decision)
            except epochs.StaleEpoch as stale:  # deposed meanwhile: the loop steps down
                self._deposed(stale)
                decision.outcome.set_exception(ApiError(503, "not_leader", "this replica stopped leading; "
                                                        "nothing was written", None))
                committed = False
                continue
            except Exception as exc:  # ApiError from write, NotPlaced, or a store failure: the caller hears it
                decision.outcome.set_exception(exc)
                committed = False
                continue
            decision.outcome.set_result(outcome)
            done.append(applied)
        return done, committed

    def _decide(self, decision: Decision) -> tuple[int, Applied]:
        try:
            with self.store.begin() as conn:
                job_id = decision.write(conn)
                plan, applied, remember = self.cycle_in(conn, full=True, whole_queue=True)
                if not decision.keep and all(p.job_id != job_id for p in applied.placed):
                    raise _Refused(plan.waiting.get(job_id))
        except _Refused as refused:  # rolled back: the job, its events and the cycle's placements
            raise NotPlaced(refused.args[0]) from None
        remember()
        self._last_whole = time.monotonic()
        return job_id, applied

    def placed(self, applied: Applied) -> None:
        """After a committed cycle: wake the agents whose assignments changed."""
        if applied.nodes:
            self.notifier.touch(applied.nodes)
        if applied.placed:
            for hook in self.on_placed:
                hook(applied)

    def _deposed(self, stale: epochs.StaleEpoch) -> None:
        """From any thread: a fenced write was refused, another replica leads now."""
        self._loop.call_soon_threadsafe(self.leadership.step_down, str(stale))

    def _fenced(self, conn) -> None:
        if self._led is not None:
            epochs.check_fence(conn, self._led)

    def sweep(self) -> None:
        with self.store.begin() as conn:
            lock_core_map(conn)
            self._fenced(conn)
            overdue = stop_overdue(conn, self.clock()) | requeue_unstarted(conn, self.clock(),
                                                                           self.settings.start_timeout)
        if overdue:
            self.notifier.touch(overdue)
            self.wake()
        if time.monotonic() < self._sweep_nodes_after:
            return
        with self.store.begin() as conn:
            lock_core_map(conn)
            self._fenced(conn)
            disconnected, gone = sweep_silent_nodes(conn, self.clock(), self.settings.node_timeout)
        if disconnected:
            log.warning("nodes disconnected: %s", ", ".join(sorted(disconnected)))
        if gone:
            log.warning("nodes down: %s", ", ".join(sorted(gone)))
            self.notifier.touch(gone)  # if the agent still listens, it learns at once what it must stop
            self.wake()

    # -- the background task ------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.notifier.bind(self._loop)
        self.changes.bind(self._loop)
        self.watchers.bind(self._loop)
        next_sweep = 0.0
        while True:
            if not self.leadership.is_leader:  # a follower: the leader's loop schedules
                self._fail_decisions()
                await self.leadership.wait_change(self.settings.scheduler_interval)
                continue
            if self._led != self.leadership.epoch:  # just took over: forget what another epoch saw
                self._led, self._seen, self.reservation, self._recommended = self.leadership.epoch, 0, None, set()
                self._full, self._last_whole = True, 0.0
                self._sweep_nodes_after = time.monotonic() + self.settings.node_timeout
                self._wake.set()  # a cycle at once: the queue waited while nobody led
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
                # cancellation that coincides with a wake-up, and the loop would never stop.
                async with asyncio.timeout(self.settings.scheduler_interval):
                    await self._wake.wait()
                full, whole_queue = self._full, False
            except TimeoutError:
                full, whole_queue = True, True
            if time.monotonic() - self._last_whole >= self.settings.scheduler_interval:
                full, whole_queue = True, True  # even under a flood of wake-ups, reasons and positions refresh
            if not full and not self._decisions:
                # Only submissions woke us: let the ones arriving right behind join this cycle.
                await asyncio.sleep(LIGHT_CYCLE_DELAY)
                full = self._full
            self._wake.clear()
            self._full = False
            try:
                started = time.monotonic()
                committed = False
                if self._decisions:  # each runs a whole-queue cycle of its own
                    decided, committed = await asyncio.to_thread(self._decide_all)
                    for applied in decided:
                        self.placed(applied)
                if not committed:
                    applied = await asyncio.to_thread(self.cycle_now, full, whole_queue)
                    self.placed(applied)
                    if whole_queue:
                        self._last_whole = started
                # Under a flood of wake-ups, leave the store to requests at least as long as a cycle took.
                await asyncio.sleep(min(0.05, time.monotonic() - started))
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 1.0
                    await asyncio.to_thread(self.sweep)
            except epochs.StaleEpoch as stale:  # another replica took over: nothing of this cycle was written
                self.leadership.step_down(str(stale))
            except Exception:  # a failed cycle must not stop the loop; the next one retries
                log.exception("scheduling cycle failed")
                await asyncio.sleep(0.2)
