import random

import pytest
from sqlalchemy import exc, insert, select

from heaven.core import SchedulerConfig, schedule
from heaven.core.states import JobState
from heaven.store import events, jobs, nodes
from heaven.store.apply import apply_plan
from heaven.store.engine import default_org_id
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims
from tests.builders import stored_cycle, stored_job, stored_node


_node, _job, _cycle = stored_node, stored_job, stored_cycle


def test_plan_is_applied_with_one_event_per_transition(engine):
    with engine.begin() as conn:
        _node(conn, "n1", 2, 0)
        a, b = _job(conn, "a", 2), _job(conn, "b", 1)
    applied = _cycle(engine)
    with engine.begin() as conn:
        assert [p.job_id for p in applied.placed] == [a]
        assert jobs.get(conn, a)["state"] == "assigned"  # running once its agent reports a process
        assert jobs.claims_of(conn, [a]) == {a: [0, 1]}
        assert jobs.get(conn, b)["reason"].startswith("Insufficient CPU")
        actions = [(e["action"], e["job"], e["node"]) for e in events.since(conn)]
    assert actions == [("register", None, "n1"), ("submit", a, None), ("submit", b, None), ("assign", a, "n1"),
                       ("wait", b, None)]


def test_finish_releases_exactly_what_was_held_and_twice_is_harmless(engine):
    with engine.begin() as conn:
        _node(conn, "n1", 2, 0)
        a = _job(conn, "a", 2)
    _cycle(engine)
    with engine.begin() as conn:
        assert jobs.finish(conn, a, 0, 5.0, "agent") is True
    with engine.begin() as conn:
        assert jobs.finish(conn, a, 0, 6.0, "agent") is False
        assert conn.execute(select(core_claims)).all() == []
        assert jobs.get(conn, a)["state"] == "succeeded"
        # An exit of a job still assigned: its process existed, so it passed through running.
        assert [e["action"] for e in events.since(conn, job=a)] == ["submit", "assign", "start", "succeed"]


def test_stale_plan_is_partially_committed(engine):
    with engine.begin() as conn:
        _node(conn, "n1", 2, 0)
        a, b = _job(conn, "a", 1), _job(conn, "b", 1)
        plan = schedule(load_snapshot(conn), 3.0, random.Random(0), SchedulerConfig())
    with engine.begin() as conn:
        jobs.transition(conn, a, JobState.PENDING, JobState.CANCELLED, 3.5, actor="user")
    with engine.begin() as conn:
        applied = apply_plan(conn, plan, 4.0)
    assert [p.job_id for p in applied.placed] == [b]
    assert applied.rejected[0][0].job_id == a


def test_the_database_refuses_to_double_book_a_core(engine):
    with engine.begin() as conn:
        _node(conn, "n1", 2, 0)
        a, b = _job(conn, "a", 1), _job(conn, "b", 1)
        conn.execute(insert(core_claims).values(core=0, job_id=a, node="n1"))
    with pytest.raises(exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(insert(core_claims).values(core=0, job_id=b, node="n1"))


def test_a_grow_or_shrink_of_a_job_that_ended_since_the_snapshot_writes_nothing(engine):
    """An agent's report ends a job without the core-map lock, so a cycle's snapshot may still
    show it running: the applier checks it still holds cores. Before, the grow wrote a claim for
    the ended job, held by no one, and every later cycle failed on that core (the chaos test)."""
    from heaven.core.plan import Grow, Plan, Shrink

    with engine.begin() as conn:
        _node(conn, "n1", 3, 0)
        a = _job(conn, "a", 2)
        b = _job(conn, "b", 1)
    _cycle(engine)
    with engine.begin() as conn:
        assert jobs.claims_of(conn, [a, b]) == {a: [0, 1], b: [2]}
        apply_plan(conn, Plan(shrinks=[Shrink(a, "n1", (1,))]), 4.0)
        stale = load_snapshot(conn)
    with engine.begin() as conn:
        jobs.finish(conn, a, 0, 5.0, "agent:n1")
        jobs.finish(conn, b, 0, 5.0, "agent:n1")
    with engine.begin() as conn:
        applied = apply_plan(conn, Plan(grows=[Grow(a, "n1", (1,))], shrinks=[Shrink(b, "n1", (2,))]), 6.0,
                             snapshot=stale)
        assert [g.job_id for g in applied.done.grows] == [a]  # verified against the stale snapshot...
        assert conn.execute(select(core_claims)).all() == []  # ...but nothing claimed for ended jobs
        assert [e["action"] for e in events.since(conn, job=a)][-2:] == ["start", "succeed"]
        assert [e["action"] for e in events.since(conn, job=b)][-1] == "succeed"
