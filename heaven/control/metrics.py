"""Prometheus metrics: what the scheduler did (counted as it happens, in this process)
and what the cluster holds now (read from the store at scrape time, scoped to the
caller's organizations, as every other read of jobs and nodes is).

Each app has its own registry: nothing is global, so two apps in one process (tests)
count apart.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Connection, func, select

from heaven.store.jobs import HOLDING_STATE_VALUES
from heaven.store.tables import core_claims, jobs, nodes, organizations

CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cycle_seconds = Histogram("heaven_scheduler_cycle_seconds", "time of one scheduling cycle "
                                       "(snapshot, schedule, apply)", buckets=CYCLE_BUCKETS, registry=self.registry)
        self.plan_changes = Counter("heaven_scheduler_changes", "what the scheduler's committed plans did",
                                    ["change"], registry=self.registry)
        self.api_seconds = Histogram("heaven_api_request_seconds", "API latency by route and method",
                                     ["route", "method"], registry=self.registry)

    def cycle(self, seconds: float, counts: dict[str, int]) -> None:
        """A committed cycle: its time, and what its plan placed, evicted, shrank (steals) and grew."""
        self.cycle_seconds.observe(seconds)
        for change, key in (("placed", "scheduled"), ("preempted", "preempted"), ("shrunk", "shrunk"),
                            ("grown", "grown"), ("suspended", "suspended"), ("resumed", "resumed")):
            if counts.get(key):
                self.plan_changes.labels(change).inc(counts[key])

    def exposition(self, conn: Connection, org_ids: list[int], now: float) -> bytes:
        view = CollectorRegistry(auto_describe=False)
        view.register(_Registered(self.registry))
        view.register(_Holdings(conn, org_ids, now))
        return generate_latest(view)


class _Registered:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class _Holdings:
    """Gauges read from the store for one scrape."""

    def __init__(self, conn: Connection, org_ids: list[int], now: float) -> None:
        self.conn, self.org_ids, self.now = conn, org_ids, now

    def collect(self):
        conn, mine = self.conn, self.org_ids
        names = dict(conn.execute(select(organizations.c.id, organizations.c.name)
                                  .where(organizations.c.id.in_(mine))).all())
        by_state = GaugeMetricFamily("heaven_jobs", "jobs by state and organization", labels=["state", "organization"])
        for org_id, state, count in conn.execute(select(jobs.c.org_id, jobs.c.state, func.count())
                                                 .where(jobs.c.org_id.in_(mine)).group_by(jobs.c.org_id, jobs.c.state)):
            by_state.add_metric([state, names[org_id]], count)
        yield by_state
        node_rows = conn.execute(select(nodes.c.name, nodes.c.local_cores, nodes.c.reserved, nodes.c.last_heartbeat)
                                 .where(nodes.c.org_id.in_(mine))).all()
        node_names = [n.name for n in node_rows]
        claims = conn.execute(select(core_claims.c.lent_by).where(core_claims.c.node.in_(node_names))).all()
        used = conn.execute(select(func.coalesce(func.sum(jobs.c.cpu_percent), 0.0)).where(
            jobs.c.org_id.in_(mine), jobs.c.state.in_(HOLDING_STATE_VALUES))).scalar_one()
        schedulable = sum(len([c for c in n.local_cores if c not in (n.reserved or [])]) for n in node_rows)
        cores = GaugeMetricFamily("heaven_cores", "cores of the caller's nodes", labels=["kind"])
        cores.add_metric(["allocated"], len(claims))
        cores.add_metric(["used"], float(used) / 100.0)
        cores.add_metric(["free"], schedulable - len(claims))
        cores.add_metric(["lent"], sum(1 for c in claims if c.lent_by is not None))
        yield cores
        age = GaugeMetricFamily("heaven_agent_heartbeat_age_seconds", "seconds since each node's agent last "
                                "reported", labels=["node"])
        for n in node_rows:
            age.add_metric([n.name], max(0.0, self.now - n.last_heartbeat))
        yield age


class RequestTimer:
    """ASGI middleware: the time from a request's arrival to its answer's first byte, by the
    route's template (``/api/v1/jobs/{job_id}``, so ids do not make new series). A plain
    ASGI wrapper, not an HTTP middleware class, which would buffer streams and cost every
    request a task."""

    def __init__(self, app, metrics: Metrics, clock) -> None:
        self.app, self.metrics, self.clock = app, metrics, clock

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = self.clock()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                route = scope.get("route")
                self.metrics.api_seconds.labels(getattr(route, "path", "unmatched"), scope["method"]).observe(
                    self.clock() - began)
            await send(message)

        await self.app(scope, receive, timed_send)
