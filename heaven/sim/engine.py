"""The discrete-event replay: a virtual clock driving the real scheduling core.

One event at a time — a submission, or a job ending — moves the virtual clock;
after each, the engine builds a ``Snapshot`` of its virtual cluster (one node
with the machine's cores), calls the same ``schedule()`` the controller calls,
and carries out the plan with the core's own applier (``ClusterState.apply``):
evictions (requeued), shrinks, placements, grows. Nothing here decides
who runs: that is the core's job. The engine only keeps time, keeps jobs
running for as long as the usage model says, and records what happened.

Ties: a submission at the same instant as an ending comes first, and jobs
ending together end one by one, each followed by a cycle (as RLScheduler's
simulator does, which the published figures depend on).

Randomness: ``schedule`` gets its own seeded ``random.Random``; the engine's
only chance is the optional measurement noise on usage (``usage_noise``: the
use the scheduler sees is the job's parallelism × (1 + U(-noise, +noise)), drawn
once per job, capped at the cores it holds), from a second stream seeded from
the same seed. Same jobs, config and
seed give the same numbers, always.

Organizations (fair share, jobs with ``SimJob.org``): the engine keeps each
organization's decayed usage as the store does (core-seconds held, decayed with
the core's own ``fairshare`` functions) and hands it to the core in the snapshot;
it also records the core-seconds each organization held per ``share_window``.
"""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from heaven.core import fairshare
from heaven.core.cluster import ClusterState
from heaven.core.config import DEFAULT_CLUSTER, WEEK
from heaven.core.model import Allocation, Job, Node, Usage
from heaven.core.plan import Plan
from heaven.core.scheduler import SchedulerConfig, schedule
from heaven.core.snapshot import Snapshot
from heaven.core.states import JobState
from heaven.sim.protocol import SimJob

NODE = "sim"


@dataclass(slots=True)
class JobRecord:
    id: int
    submit: float
    start: float
    end: float
    run: float  # recorded (dedicated) run time
    cores: int
    shrinks: list[tuple[float, int]] = field(default_factory=list)  # (when, cores taken)

    @property
    def wait(self) -> float:
        return self.start - self.submit


@dataclass(slots=True)
class Outcome:
    """What one replay produced: per-job records and the cluster over time."""

    cores: int
    records: list[JobRecord]
    times: list[float]
    queued: list[int]
    busy: list[int]  # cores held, after each event
    used: list[float]  # cores really kept busy (the usage model), after each event
    busy_core_seconds: float  # cores held by jobs, integrated over time
    used_core_seconds: float  # cores really kept busy (the usage model), integrated
    cycles: int
    # Core-seconds held per organization in each window of ``share_window`` seconds from the first submit.
    org_windows: list[dict[int, float]] = field(default_factory=list)


@dataclass(slots=True)
class _Running:
    record: JobRecord
    job: Job
    alloc: Allocation
    parallelism: float | None
    noise: float
    use: float = 0.0  # cores it really keeps busy now: min(held, parallelism)
    rate: float = 1.0  # progress per second, 1 = as recorded
    work_left: float = 0.0  # seconds of recorded run time still to do
    since: float = 0.0
    version: int = 0


class Replay:
    """Replays ``jobs`` (in list order) on a machine of ``cores`` cores."""

    def __init__(
        self,
        jobs: Sequence[SimJob],
        cores: int,
        config: SchedulerConfig,
        seed: int | str = 0,
        usage_noise: float = 0.0,
        check: bool = False,
        on_progress: Callable[[int], None] | None = None,
        share_window: float = 86400.0,
    ) -> None:
        self.jobs = jobs
        self.node = Node(NODE, 0, tuple(range(cores)))
        self.config = config
        self.core_rng = random.Random(f"core/{seed}")
        self.noise_rng = random.Random(f"usage/{seed}")
        self.usage_noise = usage_noise
        self.check = check
        self.on_progress = on_progress
        self.now = jobs[0].submit if jobs else 0.0
        self.pending: dict[int, Job] = {}
        self.running: dict[int, _Running] = {}
        self.reservation = None
        self.sim_jobs = {j.id: j for j in jobs}
        self.ends: list[tuple[float, int, int, int]] = []  # (end, tiebreak, job id, version)
        self.sequence = 0
        self.records: list[JobRecord] = []
        self.busy_cores = 0
        self.busy_area = 0.0
        self.used_now = 0.0
        self.used_area = 0.0
        self.last_t = self.now
        self.times: list[float] = []
        self.queued: list[int] = []
        self.busy: list[int] = []
        self.used: list[float] = []
        self.cycles = 0
        self.share_window = share_window
        self.half_life = config.fair_share.half_life if config.fair_share is not None else WEEK
        self.org_held: dict[int, int] = {}  # cores each organization holds now
        self.org_usage: dict[int, float] = {}  # decayed core-seconds, as of ``last_t``
        self.org_windows: list[dict[int, float]] = []
        self.start = self.now

    def run(self) -> Outcome:
        jobs, n, i = self.jobs, len(self.jobs), 0
        done = 0
        while i < n or self.running:
            end = self._next_end()
            if i < n and jobs[i].submit <= end:
                self._advance(max(self.now, jobs[i].submit))
                self._arrive(jobs[i])
                i += 1
            else:
                self._advance(end)
                self._complete(heapq.heappop(self.ends)[2])
                done += 1
                if self.on_progress is not None and done % 256 == 0:
                    self.on_progress(done)
            self._cycle()
        if self.pending:  # nothing runs, nothing arrives, and still they wait: say so, do not drop them
            raise RuntimeError(f"replay stalled at t={self.now:g}: jobs {sorted(self.pending)[:5]} can never start")
        if self.on_progress is not None:
            self.on_progress(done)
        self.records.sort(key=lambda r: r.id)
        return Outcome(self.node.total_cores, self.records, self.times, self.queued, self.busy, self.used,
                       self.busy_area, self.used_area, self.cycles, self.org_windows)

    # --- events -----------------------------------------------------------------

    def _next_end(self) -> float:
        ends = self.ends
        while ends:
            end, _, job_id, version = ends[0]
            state = self.running.get(job_id)
            if state is not None and state.version == version:
                return end
            heapq.heappop(ends)  # superseded by a shrink
        return math.inf

    def _advance(self, t: float) -> None:
        if self.org_held or self.org_usage:
            self._charge(self.last_t, t)
        self.busy_area += self.busy_cores * (t - self.last_t)
        self.used_area += self.used_now * (t - self.last_t)
        self.last_t = self.now = t

    def _charge(self, t0: float, t1: float) -> None:
        """Each organization's usage from ``t0`` to ``t1``: decayed, and per window."""
        h = self.half_life
        for org in set(self.org_usage) | set(self.org_held):
            held = self.org_held.get(org, 0)
            self.org_usage[org] = fairshare.decay(self.org_usage.get(org, 0.0), t0, t1, h) + \
                fairshare.core_seconds(held, t0, t1, t1, h)
        t = t0
        while t < t1:
            window = int((t - self.start) // self.share_window)
            end = min(t1, self.start + (window + 1) * self.share_window)
            while len(self.org_windows) <= window:
                self.org_windows.append({})
            row = self.org_windows[window]
            for org, held in self.org_held.items():
                if held:
                    row[org] = row.get(org, 0.0) + held * (end - t)
            t = end

    def _hold(self, job: Job, delta: int) -> None:
        self.busy_cores += delta
        if job.org is not None:
            self.org_held[job.org] = self.org_held.get(job.org, 0) + delta

    def _arrive(self, sim: SimJob) -> None:
        self.pending[sim.id] = Job(sim.id, cores=sim.cores, submitted_at=sim.submit, walltime=sim.estimate, org=sim.org)

    def _complete(self, job_id: int) -> None:
        state = self.running.pop(job_id)
        state.record.end = self.now
        self._hold(state.job, -len(state.alloc.cores))
        self.used_now -= state.use
        self.records.append(state.record)

    # --- the cycle ------------------------------------------------------------------

    def _cycle(self) -> None:
        running = self.running.values()
        snapshot = Snapshot(
            (self.node,),
            (*self.pending.values(), *(r.job for r in running)),
            tuple(r.alloc for r in running),
            self.reservation,
            usage={(org, DEFAULT_CLUSTER): Usage(u, self.now) for org, u in self.org_usage.items()},
        )
        plan = schedule(snapshot, self.now, self.core_rng, self.config)
        self.cycles += 1
        self._apply(plan)
        self.reservation = plan.reservation
        self.times.append(self.now)
        self.queued.append(len(self.pending))
        self.busy.append(self.busy_cores)
        self.used.append(self.used_now)

    def _apply(self, plan: Plan) -> None:
        """Carry out the plan: the allocations are the core's one applier's (``ClusterState.apply``);
        the engine adds what only a replay knows (progress rates, usage, end times)."""
        if plan.cancellations:
            # SWF jobs have no dependencies, so the core never cancels one here; if it does, stop rather than drift.
            raise RuntimeError(f"the simulator does not carry out cancellations (t={self.now:g})")
        now = self.now
        before = ClusterState({NODE: self.node}, {j: (r.alloc,) for j, r in self.running.items()})
        after = before.apply(plan, now).parts
        for p in plan.preemptions:  # back to the queue: it starts again from the beginning
            state = self.running.pop(p.job_id)
            self._hold(state.job, -len(state.alloc.cores))
            self._set_use(state, 0)
            self.pending[p.job_id] = replace(state.job, state=JobState.PENDING)
        for change in (*plan.shrinks, *plan.grows):
            state = self.running[change.job_id]
            state.work_left -= (now - state.since) * state.rate
            state.since = now
            old, cores = len(state.alloc.cores), after[change.job_id][0].cores
            state.rate = _rate(len(cores), state.parallelism)
            self._set_use(state, len(cores))
            state.alloc = replace(after[change.job_id][0], used_cores=self._measure(len(cores), state))
            if len(cores) < old:
                state.record.shrinks.append((now, old - len(cores)))
            self._hold(state.job, len(cores) - old)
            self._schedule_end(state)
        for place in plan.placements:
            job = self.pending.pop(place.job_id)
            sim = self.sim_jobs[place.job_id]
            record = JobRecord(sim.id, sim.submit, now, math.nan, sim.run, sim.cores)
            noise = 1.0 + self.noise_rng.uniform(-self.usage_noise, self.usage_noise) if self.usage_noise else 1.0
            state = _Running(record, replace(job, state=JobState.RUNNING), None, sim.parallelism, noise)  # type: ignore[arg-type]
            state.alloc = replace(after[place.job_id][0], used_cores=self._measure(len(place.cores), state))
            state.rate = _rate(len(place.cores), sim.parallelism)
            self._set_use(state, len(place.cores))
            state.work_left, state.since = sim.run, now
            self.running[place.job_id] = state
            self._hold(state.job, len(place.cores))
            self._schedule_end(state)
        if self.check:
            self._check()

    def _schedule_end(self, state: _Running) -> None:
        self.sequence += 1
        state.version = self.sequence  # unique, so an older entry for the job never matches
        end = state.since + state.work_left / state.rate
        heapq.heappush(self.ends, (end, self.sequence, state.job.id, state.version))

    def _set_use(self, state: _Running, held: int) -> None:
        use = float(held) if state.parallelism is None else min(float(held), state.parallelism)
        self.used_now += use - state.use
        state.use = use

    def _measure(self, held: int, state: _Running) -> float:
        """The use the scheduler sees: its parallelism, as misjudged by the noise, and
        never more than it holds. A job held below that reads as saturated, so a
        low reading can cost it cores once, not again at every cycle."""
        if state.parallelism is None:
            return float(held)
        return min(float(held), state.parallelism * state.noise)

    def _check(self) -> None:
        """Invariants (tests turn this on): no core twice, none outside the node, none empty."""
        seen: set[int] = set()
        for state in self.running.values():
            cores = state.alloc.cores
            assert cores and len(cores) >= state.job.min_cores, f"job {state.job.id} holds {len(cores)} cores"
            assert all(0 <= c < self.node.total_cores for c in cores), f"job {state.job.id} outside the node"
            assert seen.isdisjoint(cores), f"job {state.job.id} shares a core"
            seen.update(cores)
        assert len(seen) == self.busy_cores


def _rate(held: int, parallelism: float | None) -> float:
    """Progress per second with ``held`` cores: 1 with at least the job's parallelism."""
    if parallelism is None or held >= parallelism:
        return 1.0
    return held / parallelism
