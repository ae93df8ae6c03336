"""apply_plan with giveback=suspend: a victim's claims go, it stays suspended on its node, and
it is resumed there (claims back, walltime clock moved on) in the same transaction as the rest."""
import random

from sqlalchemy import select

from heaven.core import SchedulerConfig, schedule
from heaven.core.states import JobState
from heaven.store import events, jobs
from heaven.store.apply import apply_plan
from heaven.store.invariants import check, read_history
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims
from tests.builders import stored_job, stored_node

SUSPEND = SchedulerConfig(preempt=True, giveback="suspend")


def _cycle(engine, now):
    with engine.begin() as conn:
        plan = schedule(load_snapshot(conn), now, random.Random(0), SUSPEND)
        return apply_plan(conn, plan, now)


def _running_low_job(engine):
    with engine.begin() as conn:
        stored_node(conn, "n1", 1, 0)
        low = stored_job(conn, "low", 1)
    _cycle(engine, 3.0)
    with engine.begin() as conn:
        assert jobs.mark_started(conn, low, 4.0, "agent", "n1", pid=1234)
        high = stored_job(conn, "high", 1, priority=5)
    return low, high


def test_a_suspended_victim_frees_its_cores_and_keeps_its_node_and_pid(engine):
    low, high = _running_low_job(engine)
    applied = _cycle(engine, 10.0)
    assert [s.job_id for s in applied.done.suspensions] == [low] and applied.done.preemptions == []
    assert applied.nodes == {"n1"}  # its agent must hear of the freeze
    with engine.begin() as conn:
        row = jobs.get(conn, low)
        assert (row["state"], row["node"], row["pid"]) == ("suspended", "n1", 1234)
        assert jobs.claims_of(conn, [low, high]) == {low: [], high: [0]}
        assert [e["action"] for e in events.since(conn, job=low)][-1] == "suspend"
        snap = load_snapshot(conn)
    frozen = next(j for j in snap.jobs if j.id == low)
    assert frozen.state == JobState.SUSPENDED and frozen.suspended_on == "n1"
    assert all(a.job_id != low for a in snap.allocations)


def test_it_resumes_on_its_node_once_the_cores_free_and_walltime_skips_the_pause(engine):
    low, high = _running_low_job(engine)
    _cycle(engine, 10.0)
    with engine.begin() as conn:
        assert jobs.finish(conn, high, 0, 30.0, "agent")
    applied = _cycle(engine, 31.0)
    assert [(r.job_id, r.node, r.cores) for r in applied.done.resumes] == [(low, "n1", (0,))]
    with engine.begin() as conn:
        row = jobs.get(conn, low)
        assert (row["state"], row["pid"]) == ("running", 1234)
        assert conn.execute(select(core_claims.c.core).where(core_claims.c.job_id == low)).scalars().all() == [0]
        # Ran 4..10, suspended 10..31: its walltime clock counts 6 s so far, as if it started at 25.
        assert row["started_at"] == 25.0
        log = [(e["action"], e["detail"]) for e in events.since(conn, job=low)]
        assert log[-2][0] == "suspend" and log[-2][1].startswith("evicted for job")
        assert log[-1] == ("resume", "on n1 cores [0]")
        events_, rows, node_quota, quotas = read_history(conn)
    assert check(events_, rows, node_quota, quotas).violations == []


def test_an_exit_of_a_suspended_job_ends_it(engine):
    low, _ = _running_low_job(engine)
    _cycle(engine, 10.0)
    with engine.begin() as conn:
        assert jobs.finish(conn, low, -9, 12.0, "agent")
        assert jobs.get(conn, low)["state"] == "failed"


def test_a_suspended_job_on_a_node_that_goes_down_is_lost_and_requeued(engine):
    from heaven.control.cycle import sweep_silent_nodes
    low, high = _running_low_job(engine)
    _cycle(engine, 10.0)
    with engine.begin() as conn:
        assert sweep_silent_nodes(conn, 100.0, 10.0)[1] == {"n1"}  # no grace: disconnected and down at once
        row = jobs.get(conn, low)
        assert (row["state"], row["runs"]) == ("pending", 1)
        assert [e["action"] for e in events.since(conn, job=low)][-3:] == ["suspend", "lose", "requeue"]


def test_a_report_of_the_suspended_run_is_taken_from_its_node(engine):
    from heaven.control.agent_service import _is_this_run
    low, _ = _running_low_job(engine)
    _cycle(engine, 10.0)
    with engine.begin() as conn:
        assert _is_this_run(conn, "n1", low, 1)
        assert not _is_this_run(conn, "n2", low, 1) and not _is_this_run(conn, "n1", low, 2)
