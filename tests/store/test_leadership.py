"""The fencing token: a plan made under a deposed leader's epoch is refused whole."""
import random

import pytest
from sqlalchemy import select

from heaven.core import SchedulerConfig, schedule
from heaven.store import events, jobs
from heaven.store import leadership as epochs
from heaven.store.apply import apply_plan
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims
from tests.store.test_apply_plan import _job, _node


def _take_over(engine, holder: str) -> int:
    with engine.begin() as conn:
        return epochs.take_over(conn, holder, f"http://{holder}", now=1.0)


def test_each_take_over_bumps_the_epoch_and_names_the_leader(engine):
    first, second = _take_over(engine, "a:1"), _take_over(engine, "b:2")
    assert second == first + 1
    with engine.begin() as conn:
        assert epochs.current(conn) | {"since": None} == {"id": 1, "epoch": second, "holder": "b:2",
                                                          "url": "http://b:2", "since": None}


def test_a_deposed_leaders_plan_is_refused_and_writes_nothing(engine):
    with engine.begin() as conn:
        _node(conn, "n1", 2, 0)
        a = _job(conn, "a", 1)
    old = _take_over(engine, "a:1")
    with engine.begin() as conn:  # the old leader plans under its epoch...
        plan = schedule(load_snapshot(conn), 3.0, random.Random(0), SchedulerConfig())
        plan.fence = old
    assert [p.job_id for p in plan.placements] == [a]
    new = _take_over(engine, "b:2")  # ...and another replica takes over before it is written
    with pytest.raises(epochs.StaleEpoch) as refused:
        with engine.begin() as conn:
            apply_plan(conn, plan, 4.0)
    assert (refused.value.epoch, refused.value.current) == (old, new)
    with engine.begin() as conn:
        assert jobs.get(conn, a)["state"] == "pending"
        assert conn.execute(select(core_claims)).all() == []
        assert [e["action"] for e in events.since(conn, job=a)] == ["submit"]
    plan.fence = new  # the same plan under the current epoch is applied
    with engine.begin() as conn:
        applied = apply_plan(conn, plan, 5.0)
    assert [p.job_id for p in applied.placed] == [a]
