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
