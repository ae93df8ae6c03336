"""The invariant checker: replays the event log and names every broken promise.

    python -m heaven.store.invariants --db URL [--json]

What it checks, each a kind of ``Violation``:

- ``lost``: an accepted job that is neither ended nor still queued or running: no row,
  no ``submit`` event, or left in a passing state (``lost``/``preempted``) with no requeue.
- ``run_twice``: two runs of one job alive at once (an ``assign`` while the job's previous
  run still holds cores), or a run started after the job had ended (after a ``succeed``
  above all). A run is what one ``assign`` began, until the job leaves ``assigned`` and
  ``running``. Given the job's own record of its process lifetimes (``lifetimes``: what a
  chaos run's jobs write themselves), two lifetimes that overlap, or one that began after
  the job's ``succeed``, count too: that is a second copy the log alone cannot see.
- ``double_booked``: a core granted to a second live run while another still held it on
  the same node (the placements, grows, shrinks and ends replayed in ``seq`` order).
- ``over_quota``: a cluster's quota (cores, memory, GPUs) exceeded at any point of the
  replay by what its live runs held.
- ``log_mismatch``: the log and the tables disagree (a transition the state table forbids,
  or a final state other than the job row's): the history cannot be trusted as a proof.

Ordering by ``seq`` is sound under PostgreSQL, though sequence numbers are taken before
commit: a transaction that saw another's change (a core freed) takes its numbers after
that change committed, so dependent events are always in order.

The quota replay uses the clusters' *current* quotas and the jobs' current requests
(the log does not carry their history): a quota lowered mid-run, or a memory request
raised by an out-of-memory retry, may be reported though nothing was exceeded then.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from sqlalchemy import Connection, select

from heaven.core.model import cluster_key
from heaven.core.states import HOLDING_JOB_STATES, JOB_TRANSITIONS, TERMINAL_JOB_STATES, JobState
from heaven.store.jobs import EVENT_ACTION
from heaven.store.tables import clusters as cluster_table
from heaven.store.tables import events as event_table
from heaven.store.tables import jobs as job_table
from heaven.store.tables import nodes as node_table

KINDS = ("lost", "run_twice", "double_booked", "over_quota", "log_mismatch")
STATE_OF_ACTION = {action: state for state, action in EVENT_ACTION.items()}
STATE_OF_ACTION["resume"] = JobState.RUNNING  # a suspended job thawed: "on n1 cores [0]", like a placement
PASSING = frozenset({JobState.LOST, JobState.PREEMPTED})  # always followed by requeue or cancel
_PARTS = re.compile(r"(\S+) cores \[([^\]]*)\]")  # "on n1 cores [0, 1]", "gang on n1 cores [0], n2 cores [4]"
_CORES = re.compile(r"cores \[([^\]]*)\]")  # "gave up cores [3]", "got back cores [3]"


@dataclass(frozen=True)
class JobFacts:
    """What the job table says of a job now."""
    state: str
    memory_mb: int = 0
    gpus: int = 0


@dataclass(frozen=True)
class Limits:
    cores: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None


@dataclass(frozen=True)
class Violation:
    kind: str
    message: str
    job: int | None = None
    seq: int | None = None


@dataclass
class Report:
    submitted: int = 0
    ended: int = 0
    runs: int = 0
    violations: list[Violation] = field(default_factory=list)

    def of(self, kind: str) -> list[Violation]:
        return [v for v in self.violations if v.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in KINDS}

    @property
    def ok(self) -> bool:
        return not self.violations


def _cores(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def _granted(event: Mapping) -> dict[str, set[int]]:
    """Node -> cores an ``assign`` or ``grow`` event granted."""
    detail = event.get("detail") or ""
    if event["action"] == "assign":
        return {node: set(_cores(cores)) for node, cores in _PARTS.findall(detail)}
    found = _CORES.search(detail)
    return {event["node"]: set(_cores(found.group(1)))} if found and event.get("node") else {}


class _Replay:
    """The books the log implies, kept one event at a time."""

    def __init__(self, jobs: Mapping[int, JobFacts], node_quota: Mapping[str, str],
                 quotas: Mapping[str, Limits], report: Report) -> None:
        self.jobs, self.node_quota, self.quotas, self.report = jobs, node_quota, quotas, report
        self.state: dict[int, JobState] = {}
        self.held: dict[int, dict[str, set[int]]] = {}  # job -> node -> cores
        self.owner: dict[tuple[str, int], int] = {}  # (node, core) -> job
        self.used: dict[str, list[int]] = {}  # quota key -> cores, memory, GPUs
        self.succeeded_at: dict[int, float] = {}
        self.deleted: set[int] = set()

    def flag(self, kind: str, message: str, event: Mapping) -> None:
        self.report.violations.append(Violation(kind, message, event.get("job"), event.get("seq")))

    def apply(self, event: Mapping) -> None:
        job, action = event.get("job"), event["action"]
        if job is None:
            return
        if action == "submit":
            if job in self.state:
                self.flag("log_mismatch", f"job {job} submitted twice", event)
            self.state[job] = JobState.PENDING
            self.report.submitted += 1
        elif action == "delete":
            self._release(job, event)
            self.deleted.add(job)
        elif action in ("shrink", "grow"):
            self._resize(job, action, event)
        elif action in STATE_OF_ACTION:
            self._move(job, STATE_OF_ACTION[action], event)

    def _move(self, job: int, new: JobState, event: Mapping) -> None:
        old = self.state.get(job)
        if old is None:
            self.flag("log_mismatch", f"job {job} has a {event['action']} event before its submit", event)
            old = JobState.PENDING
        if new == JobState.ASSIGNED:
            self.report.runs += 1
            if old in HOLDING_JOB_STATES:
                self.flag("run_twice", f"job {job} was placed again while its run on "
                                       f"{', '.join(sorted(self.held.get(job, {})))} was still alive", event)
            elif old == JobState.SUCCEEDED:
                self.flag("run_twice", f"job {job} was placed again after it had succeeded", event)
            elif old in TERMINAL_JOB_STATES:
                self.flag("run_twice", f"job {job} was placed again after it had ended {old.value}", event)
        flagged_above = new == JobState.ASSIGNED and (old in HOLDING_JOB_STATES or old in TERMINAL_JOB_STATES)
        if new not in JOB_TRANSITIONS[old] and not flagged_above:
            self.flag("log_mismatch", f"job {job} went {old.value} -> {new.value}, which no transition allows", event)
        if old in HOLDING_JOB_STATES and new not in HOLDING_JOB_STATES:
            self._release(job, event)
        if new == JobState.ASSIGNED:
            self._release(job, event)  # a second run (flagged above) replaces the first's books
            self._grant(job, self._cores_of(job, event), event)
        if new == JobState.SUCCEEDED:
            self.succeeded_at[job] = event.get("ts", 0.0)
        if new in TERMINAL_JOB_STATES and old not in TERMINAL_JOB_STATES:
            self.report.ended += 1
        if new == JobState.RUNNING and old == JobState.SUSPENDED:  # a resume claims cores, as an assign does
            self._grant(job, _granted(event), event)
        self.state[job] = new

    def _resize(self, job: int, action: str, event: Mapping) -> None:
        if self.state.get(job) not in HOLDING_JOB_STATES:
            self.flag("log_mismatch", f"job {job} was resized ({action}) without a live run", event)
            return
        if action == "grow":
            self._grant(job, self._cores_of(job, event), event)
            return
        before = self._charge(job, -1)
        for node, cores in self._cores_of(job, event).items():
            mine = self.held[job].get(node, set())
            for core in cores & mine:
                self.owner.pop((node, core), None)
            mine -= cores
        self._charge(job, +1, before)

    def _cores_of(self, job: int, event: Mapping) -> dict[str, set[int]]:
        """The cores an assign, grow or shrink names; none read is a mismatch, so that a wording
        the parser no longer reads cannot pass as "nothing double-booked"."""
        parts = _granted(event)
        if not parts:
            self.flag("log_mismatch", f"job {job}'s {event['action']} event names no cores: {event.get('detail')!r}", event)
        return parts

    def _grant(self, job: int, parts: dict[str, set[int]], event: Mapping) -> None:
        before = self._charge(job, -1)
        holdings = self.held.setdefault(job, {})
        for node, cores in parts.items():
            for core in sorted(cores):
                other = self.owner.get((node, core))
                if other is not None and other != job:
                    self.flag("double_booked", f"core {core} of node {node} granted to job {job} while job "
                                               f"{other} still held it", event)
                self.owner[(node, core)] = job
            holdings.setdefault(node, set()).update(cores)
        self._charge(job, +1, before, event)

    def _release(self, job: int, event: Mapping) -> None:
        if job not in self.held:
            return
        self._charge(job, -1)
        for node, cores in self.held.pop(job).items():
            for core in cores:
                if self.owner.get((node, core)) == job:
                    del self.owner[(node, core)]

    def _charge(self, job: int, sign: int, touched: set[str] | None = None, event: Mapping | None = None) -> set[str]:
        """Add (+1) or take away (-1) what the job holds to its clusters' books; with ``event``,
        check the clusters touched (``touched`` and the job's own) against their quotas."""
        facts = self.jobs.get(job, JobFacts(""))
        keys: set[str] = set()
        for i, (node, cores) in enumerate(sorted(self.held.get(job, {}).items())):
            key = self.node_quota.get(node)
            if key is None or not cores:
                continue
            keys.add(key)
            used = self.used.setdefault(key, [0, 0, 0])
            for n, amount in enumerate((len(cores), facts.memory_mb, facts.gpus if i == 0 else 0)):
                used[n] += sign * amount
        if event is not None:
            for key in keys | (touched or set()):
                self._check_quota(key, event)
        return keys

    def _check_quota(self, key: str, event: Mapping) -> None:
        limits, used = self.quotas.get(key), self.used.get(key, [0, 0, 0])
        if limits is None:
            return
        for limit, have, label in ((limits.cores, used[0], "cores"), (limits.memory_mb, used[1], "MB of memory"),
                                   (limits.gpus, used[2], "GPUs")):
            if limit is not None and have > limit:
                self.flag("over_quota", f"cluster {key} held {have} {label}, over its quota of {limit}", event)


def check(events: Iterable[Mapping], jobs: Mapping[int, JobFacts], node_quota: Mapping[str, str] | None = None,
          quotas: Mapping[str, Limits] | None = None, accepted: Iterable[int] = (),
          lifetimes: Mapping[int, list[tuple[float, float | None]]] | None = None) -> Report:
    """Replay ``events`` (dicts with seq, ts, action, detail, job, node) in ``seq`` order.
    ``jobs``: the job table now; ``node_quota``: node -> quota key (``cluster_key``);
    ``quotas``: quota key -> limits; ``accepted``: job ids the submitters were told exist
    (every job with a ``submit`` event counts as accepted too); ``lifetimes``: job ->
    (began, ended or None) of each of its processes, as the job itself recorded them."""
    report = Report()
    replay = _Replay(jobs, node_quota or {}, quotas or {}, report)
    for event in sorted(events, key=lambda e: e["seq"]):
        replay.apply(event)
    for job in sorted(set(accepted) | set(replay.state)):
        _check_outcome(job, replay, jobs.get(job), report)
    for job, spans in sorted((lifetimes or {}).items()):
        _check_lifetimes(job, spans, replay.succeeded_at.get(job), report)
    return report


def _check_outcome(job: int, replay: _Replay, row: JobFacts | None, report: Report) -> None:
    logged = replay.state.get(job)
    if logged is None:
        report.violations.append(Violation("lost", f"job {job} was accepted but the log has no submit", job))
    elif job in replay.deleted:
        return
    elif row is None:
        report.violations.append(Violation("lost", f"job {job} was submitted but has no row", job))
    elif logged in PASSING:
        report.violations.append(Violation("lost", f"job {job} was left {logged.value}, neither requeued nor "
                                                   f"ended", job))
    elif row.state != logged.value:
        report.violations.append(Violation("log_mismatch", f"job {job} is {row.state} but its log ends "
                                                           f"{logged.value}", job))


def _check_lifetimes(job: int, spans: list[tuple[float, float | None]], succeeded_at: float | None,
                     report: Report) -> None:
    ordered = sorted(spans, key=lambda s: s[0])
    for (began, ended), (next_began, _) in zip(ordered, ordered[1:]):
        if ended is None or next_began < ended:
            report.violations.append(Violation("run_twice", f"job {job}: a copy began at {next_began:.3f} while "
                                                            f"the one begun at {began:.3f} was still alive", job))
    if succeeded_at is not None and ordered and ordered[-1][0] > succeeded_at:
        report.violations.append(Violation("run_twice", f"job {job}: a copy began at {ordered[-1][0]:.3f}, after "
                                                        f"the job succeeded at {succeeded_at:.3f}", job))


def read_history(conn: Connection) -> tuple[list[dict], dict[int, JobFacts], dict[str, str], dict[str, Limits]]:
    """The events, jobs, nodes and quotas ``check`` needs, read in the caller's transaction
    (one snapshot: a REPEATABLE READ transaction under PostgreSQL, ``Store.read``)."""
    events = [dict(r._mapping) for r in conn.execute(
        select(event_table.c.seq, event_table.c.ts, event_table.c.action, event_table.c.detail,
               event_table.c.job, event_table.c.node).where(event_table.c.job.is_not(None))
        .order_by(event_table.c.seq))]
    jobs = {r.id: JobFacts(r.state, r.memory_mb or 0, r.gpus or 0) for r in conn.execute(
        select(job_table.c.id, job_table.c.state, job_table.c.memory_mb, job_table.c.gpus))}
    node_quota = {r.name: cluster_key(r.org_id, r.cluster) for r in conn.execute(
        select(node_table.c.name, node_table.c.org_id, node_table.c.cluster))}
    quotas = {cluster_key(r.org_id, r.name): Limits(r.quota_cores, r.quota_memory_mb, r.quota_gpus)
              for r in conn.execute(select(cluster_table))
              if (r.quota_cores, r.quota_memory_mb, r.quota_gpus) != (None, None, None)}
    return events, jobs, node_quota, quotas


def check_database(url: str, accepted: Iterable[int] = (),
                   lifetimes: Mapping[int, list[tuple[float, float | None]]] | None = None) -> Report:
    """Read the store at ``url`` and check it."""
    from heaven.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            events, jobs, node_quota, quotas = read_history(conn)
    finally:
        store.dispose()
    return check(events, jobs, node_quota, quotas, accepted, lifetimes)


def summary(report: Report) -> str:
    lines = [f"jobs submitted {report.submitted}, ended {report.ended}, runs {report.runs}",
             *(f"{kind.replace('_', ' ')}: {n}" for kind, n in report.counts().items())]
    lines += [f"  [{v.kind}] {v.message}" + (f" (event {v.seq})" if v.seq is not None else "")
              for v in report.violations[:50]]
    if len(report.violations) > 50:
        lines.append(f"  ... and {len(report.violations) - 50} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heaven.store.invariants", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="the database URL (HEAVEN_DATABASE_URL)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = check_database(args.db)
    except Exception as exc:  # a bad URL or an unreachable server: say so, no traceback
        print(f"cannot read {args.db}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"submitted": report.submitted, "ended": report.ended, "runs": report.runs,
                          **report.counts(), "violations": [asdict(v) for v in report.violations]}, indent=2))
    else:
        print(summary(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
