"""Accounting from the event log, as Slurm's sacct/sreport give it: per job, person and
organization over a period, requested vs allocated core-seconds and MB-seconds, and what
stealing lent and gave back. Pure: rows in, figures out (the route reads the rows).

Each job's holding of cores is replayed from its own events, in sequence order:

    assign   "on NODE cores [..]" (or "gang on N1 cores [..], N2 cores [..]"), with
             "(K taken from idle jobs [..])" when it borrowed K of them: holds those cores
    shrink   "gave up cores [..]": a borrower gives borrowed cores back first; any other
             job lends idle ones (to the job whose assign names it)
    grow     "got back cores [..]": what stealing gave back to the job
    suspend  the run holds no cores until its ``resume`` "on NODE cores [..]" (HEAVEN_GIVEBACK=suspend):
             one run still, and the suspended time counts in no figure (as walltime skips it)
    succeed, fail, cancel, preempt, lose, requeue, ...: the holding ends (cores free)

Requested core-seconds are the cores the job asked for (per node × nodes) over the time
it held any (sacct's ReqCPUS × Elapsed); allocated ones integrate what it really held,
shrinks and grows included. Memory is a limit granted whole for the holding, so requested
and allocated MB-seconds are equal (memory × nodes × time); a run an out-of-memory retry
ended counts at the memory it ran with (its ``requeue`` event says it). Only the part of
each interval inside [since, until) counts.

What runs really used comes from their ``usage`` events, one per run and node, written with
the run's exit (see usage_detail): the CPU time (user + system) and the peak memory its shim
measured once every process of it had ended. ``used_core_seconds`` sums them, ``peak_memory_mb``
is the largest, ``measured_runs`` counts the runs that had one. A measurement is a run's total,
so it counts whole in the period in which the run ended (where the run began before the
period, used core-seconds may exceed the allocated ones). A run without one (a container, an
adopted process, an agent from before) adds nothing: with no measured run, the figures are
``null``, never an estimate.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

CORE_LIST = re.compile(r"cores \[([\d,\s]*)\]")
BORROWED = re.compile(r"\((\d+) taken from idle jobs")
RAN_WITH = re.compile(r" at (\d+) MB: requeued")
HOLDS = {"assign", "start", "shrink", "grow", "suspend", "resume"}  # every other job transition ends a holding
USAGE = "usage"  # a run's measured consumption (usage_detail), not a transition
NOT_TRANSITIONS = {"submit", "wait", "release", "update", "delete", USAGE}
USAGE_RUN = re.compile(r"^run (\d+):")
USAGE_CPU = re.compile(r"([\d.]+) cpu-seconds")
USAGE_PEAK = re.compile(r"peak ([\d.]+) MB")


def usage_detail(run: int, cpu_seconds: float | None, peak_memory_mb: float | None) -> str:
    """The detail of a ``usage`` event, as job_figures reads it back: "run 3: 12.345 cpu-seconds,
    peak 512.5 MB" (either part "not measured")."""
    cpu = f"{cpu_seconds:.3f} cpu-seconds" if cpu_seconds is not None else "cpu-seconds not measured"
    peak = f"peak {peak_memory_mb:.1f} MB" if peak_memory_mb is not None else "peak memory not measured"
    return f"run {run}: {cpu}, {peak}"


@dataclass
class JobFigures:
    id: int
    name: str
    org_id: int
    org: str
    owner: str | None
    state: str
    cores_requested: int  # per node × nodes
    memory_mb: int  # per node × nodes, as now (earlier runs may have had less)
    elapsed_seconds: float = 0.0  # time holding cores, inside the period
    requested_core_seconds: float = 0.0
    allocated_core_seconds: float = 0.0
    used_core_seconds: float | None = None  # measured CPU time of its runs (None: none measured)
    peak_memory_mb: float | None = None  # the largest peak of a measured run (on one node)
    measured_runs: int = 0  # runs ended in the period with a measurement
    requested_mb_seconds: float = 0.0
    allocated_mb_seconds: float = 0.0
    lent_core_seconds: float = 0.0  # given up to waiting jobs while this job held the rest
    borrowed_core_seconds: float = 0.0  # held on cores taken from idle jobs
    given_back_cores: int = 0  # cores stealing returned to this job (grow events)
    runs: int = 0  # holdings that overlap the period


SUMMED = ("elapsed_seconds", "requested_core_seconds", "allocated_core_seconds", "requested_mb_seconds",
          "allocated_mb_seconds", "lent_core_seconds", "borrowed_core_seconds", "given_back_cores", "runs",
          "measured_runs")
MEASURED = ("used_core_seconds", "peak_memory_mb")  # null until a measured run adds to them


@dataclass
class Totals:
    key: str  # the organization's name, or the person's username
    org: str | None = None  # for a person: the organization these jobs belong to
    jobs: int = 0
    figures: dict = field(default_factory=lambda: {**{name: 0 for name in SUMMED}, **dict.fromkeys(MEASURED)})


def _cores(detail: str) -> int:
    return sum(len([c for c in part.split(",") if c.strip()]) for part in CORE_LIST.findall(detail))


class _Holding:
    """One run of one job: what it holds now, and since when."""

    def __init__(self, figures: JobFigures, since: float, until: float, per_node_memory: int, nodes: int):
        self.f, self.since, self.until = figures, since, until
        self.memory = per_node_memory * nodes
        self.held = self.borrowed = self.lent = 0
        self.at: float | None = None
        self.started: float | None = None
        self.paused = 0.0  # seconds suspended inside the period, so far
        self.paused_at: float | None = None

    def _clip(self, a: float, b: float) -> float:
        return max(0.0, min(b, self.until) - max(a, self.since))

    def advance(self, ts: float) -> None:
        if self.at is not None:
            span = self._clip(self.at, ts)
            self.f.allocated_core_seconds += self.held * span
            self.f.borrowed_core_seconds += self.borrowed * span
            self.f.lent_core_seconds += self.lent * span
        self.at = ts

    def end(self, ts: float, memory: int | None = None) -> None:
        """``memory``: what this run had (all nodes), when the job's row has since changed it."""
        self.advance(ts)
        if self.paused_at is not None:
            self.resume(ts, 0)
        span = self._clip(self.started, ts)
        if span > 0 or self.since <= self.started < self.until:
            self.f.runs += 1
        span -= self.paused
        self.f.elapsed_seconds += span
        self.f.requested_core_seconds += self.f.cores_requested * span
        mb = self.memory if memory is None else memory
        self.f.requested_mb_seconds += mb * span
        self.f.allocated_mb_seconds += mb * span


    def suspend(self, ts: float) -> None:
        self.advance(ts)
        self.held = self.borrowed = self.lent = 0  # a suspended job's cores are freed, lent ones too
        self.paused_at = ts

    def resume(self, ts: float, cores: int) -> None:
        self.advance(ts)
        self.paused += self._clip(self.paused_at, ts)
        self.paused_at = None
        self.held = cores


def _measured(f: JobFigures, detail: str, runs: set[int]) -> None:
    """Add one ``usage`` event (usage_detail) to the job's figures."""
    run, cpu, peak = USAGE_RUN.search(detail), USAGE_CPU.search(detail), USAGE_PEAK.search(detail)
    if run:
        runs.add(int(run[1]))
    if cpu:
        f.used_core_seconds = (f.used_core_seconds or 0.0) + float(cpu[1])
    if peak:
        f.peak_memory_mb = max(f.peak_memory_mb or 0.0, float(peak[1]))


def job_figures(job: dict, events: list[dict], since: float, until: float, org: str, owner: str | None) -> JobFigures:
    """``job``: its row; ``events``: its events in sequence order (any period: clipped here)."""
    nodes = job.get("nodes") or 1
    f = JobFigures(id=job["id"], name=job["name"], org_id=job["org_id"], org=org, owner=owner, state=job["state"],
                   cores_requested=job["cores"] * nodes, memory_mb=job["memory_mb"] * nodes)
    run: _Holding | None = None
    measured: set[int] = set()  # runs with a usage event in the period (a gang's parts share one)
    for e in events:
        action, ts, detail = e["action"], e["ts"], e["detail"] or ""
        if action == USAGE and since <= ts < until:
            _measured(f, detail, measured)
        if action in NOT_TRANSITIONS:
            continue
        if action == "assign":
            if run is not None:  # never without an end in between; closed here if a row was lost
                run.end(ts)
            run = _Holding(f, since, until, job["memory_mb"], nodes)
            run.started = ts
            run.advance(ts)
            run.held = _cores(detail)
            borrowed = BORROWED.search(detail)
            run.borrowed = int(borrowed[1]) if borrowed else 0
        elif run is None:
            continue  # an end with nothing held (a pending job cancelled)
        elif action == "shrink":
            # A borrower gives up borrowed cores (the give-back); anyone else lends idle ones.
            run.advance(ts)
            gave = _cores(detail)
            returned = min(gave, run.borrowed)
            run.held -= gave
            run.borrowed -= returned
            run.lent += gave - returned
        elif action == "suspend":
            run.suspend(ts)
        elif action == "resume":
            run.resume(ts, _cores(detail))
        elif action == "grow":
            run.advance(ts)
            got = _cores(detail)
            run.held += got
            run.lent = max(0, run.lent - got)
            if since <= ts < until:
                f.given_back_cores += got
        elif action not in HOLDS:
            ran_with = RAN_WITH.search(detail)
            run.end(ts, int(ran_with[1]) * nodes if ran_with else None)
            run = None
    if run is not None:  # still holding: counted up to the end of the period
        run.end(until)
    f.measured_runs = len(measured)
    return f


def _add(totals: Totals, f: JobFigures) -> None:
    totals.jobs += 1
    for name in SUMMED:
        totals.figures[name] += getattr(f, name)
    if f.used_core_seconds is not None:
        totals.figures["used_core_seconds"] = (totals.figures["used_core_seconds"] or 0.0) + f.used_core_seconds
    if f.peak_memory_mb is not None:
        totals.figures["peak_memory_mb"] = max(totals.figures["peak_memory_mb"] or 0.0, f.peak_memory_mb)


def report(jobs: list[JobFigures], since: float, until: float, org_names: list[str]) -> dict:
    """The document ``GET /api/v1/report`` answers: per job, person and organization (each
    of ``org_names``, with or without jobs, as sreport lists accounts), and in all. Only
    jobs that held cores in the period are listed."""
    shown = [f for f in jobs if f.runs or f.given_back_cores]
    orgs: dict[str, Totals] = {name: Totals(name) for name in org_names}
    people: dict[tuple[str, str], Totals] = {}
    everything = Totals("all")
    for f in shown:
        _add(orgs.setdefault(f.org, Totals(f.org)), f)
        owner = f.owner or "-"
        _add(people.setdefault((f.org, owner), Totals(owner, f.org)), f)
        _add(everything, f)

    def flat(t: Totals) -> dict:
        return {"name": t.key, **({"org": t.org} if t.org is not None else {}), "jobs": t.jobs,
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in t.figures.items()}}

    return {
        "since": since, "until": until,
        "organizations": [flat(t) for _, t in sorted(orgs.items())],
        "people": [flat(t) for _, t in sorted(people.items())],
        "jobs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(f).items()} for f in shown],
        "totals": flat(everything),
    }
