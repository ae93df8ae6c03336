"""Reading the store into the core's snapshot: the queue head in the core's own order,
dependencies known only once they ended."""
import random

import pytest

from heaven.core import queue
from heaven.core.states import JobState
from heaven.store import jobs
from heaven.store.engine import default_org_id
from heaven.store.snapshot import load_snapshot


def _job(conn, name, priority, submitted_at, **kw) -> int:
    return jobs.insert_job(conn, {"org_id": default_org_id(conn), "name": name, "command": ["true"], "cores": 1,
                                  "min_cores": 1, "memory_mb": 0, "storage_mb": 0, "gpus": 0, "priority": priority,
                                  "kind": "batch", **kw}, now=submitted_at)


@pytest.mark.parametrize("order", sorted(queue.FIELD_KEYS))
def test_the_head_read_in_sql_is_the_head_of_the_cores_order(engine, order):
    rng = random.Random(7)
    with engine.begin() as conn:
        for i in range(40):  # ties in priority and in submit time, so every key matters
            _job(conn, f"j{i}", rng.choice([-5, 0, 0, 3]), float(rng.choice([10, 20, 20, 30])))
    with engine.begin() as conn:
        everything = queue.order(load_snapshot(conn).pending(), order)
        head = load_snapshot(conn, pending_limit=12, order=order).pending()
    assert [j.id for j in queue.order(head, order)] == [j.id for j in everything[:12]]


def test_a_dependency_still_pending_outside_the_snapshot_is_waited_for(engine):
    """A cycle over new submissions does not see an older pending job: a job that
    depends on it must wait, not be cancelled as if it had ended."""
    with engine.begin() as conn:
        first = _job(conn, "first", 0, 1.0)
        second = _job(conn, "second", 0, 2.0, depends_on=[{"job": first, "type": "afterok"}])
        done = _job(conn, "done", 0, 3.0)
        jobs.set_fields(conn, done, state=JobState.SUCCEEDED.value)
        third = _job(conn, "third", 0, 4.0, depends_on=[{"job": done, "type": "afterok"}])
    with engine.begin() as conn:
        snap = load_snapshot(conn, pending_after=first)
    assert {j.id for j in snap.pending()} == {second, third}
    assert first not in snap.ended and snap.ended[done] == JobState.SUCCEEDED


@pytest.mark.postgres
def test_an_exit_committed_between_any_two_statements_of_the_read_never_shows_a_job_without_its_cores(
        postgres_server):
    """Under READ COMMITTED each statement sees its own moment; an agent's report ends a job
    without the core-map lock. Whenever its commit lands during the read, the snapshot shows
    the job either holding all its cores or not holding any more: never running with none
    (the core then planned a grow onto them for an ended job; found by the chaos test)."""
    from sqlalchemy import event

    from heaven.store.apply import lock_core_map
    from heaven.store.engine import make_engine, migrate
    from tests.builders import stored_cycle, stored_node

    url = postgres_server.new_database()
    engine = make_engine(url)
    try:
        migrate(engine)
        statements = _statements_of_a_read(engine)
        assert statements >= 2
        for after in range(statements):
            with engine.begin() as conn:
                stored_node(conn, f"n{after}", 1, 100 + after)
                job_id = _job(conn, f"a{after}", 0, 1.0, node_pin=f"n{after}")
            stored_cycle(engine)
            seen: list[int] = []

            def finish_meanwhile(*_):
                seen.append(1)
                if len(seen) == after + 1:
                    with engine.begin() as other:
                        jobs.finish(other, job_id, 0, 5.0, "agent")

            with engine.begin() as conn:
                lock_core_map(conn)
                event.listen(conn, "after_cursor_execute", finish_meanwhile)
                snap = load_snapshot(conn)
                event.remove(conn, "after_cursor_execute", finish_meanwhile)
            mine = [a for a in snap.allocations if a.job_id == job_id]
            assert mine == [] or [a.cores for a in mine] == [(100 + after,)], (after, mine)
    finally:
        engine.dispose()


def _statements_of_a_read(engine) -> int:
    from sqlalchemy import event

    count: list[int] = []
    with engine.begin() as conn:
        event.listen(conn, "after_cursor_execute", lambda *_: count.append(1))
        load_snapshot(conn)
    return len(count)


def test_fair_share_usage_is_each_organizations_decayed_core_seconds(engine):
    from tests.builders import stored_node
    with engine.begin() as conn:
        stored_node(conn, "n1", 4, 0)
        ended = _job(conn, "ended", 0, 1.0, cores=2)
        jobs.set_fields(conn, ended, state=JobState.SUCCEEDED.value, node="n1", started_at=0.0, finished_at=3600.0)
        live = _job(conn, "live", 0, 1.0, cores=1)
        jobs.set_fields(conn, live, state=JobState.RUNNING.value, node="n1", started_at=3600.0)
        _job(conn, "waiting", 0, 1.0, cores=4)  # never started: counts nothing
    with engine.begin() as conn:
        usage = load_snapshot(conn, now=7200.0, half_life=3600.0).usage
        assert load_snapshot(conn, now=7200.0).usage == {}  # fair share off: not read
    org = default_org_id_of(engine)
    # 2 cores over the first half-life, 1 over the second, decayed to t=7200 (h/ln2 × (2^-a - 2^-b)).
    h, ln2 = 3600.0, 0.6931471805599453
    want = 2 * h / ln2 * (0.5 - 0.25) + 1 * h / ln2 * (1.0 - 0.5)
    assert usage[org, "default"].core_seconds == pytest.approx(want) and usage[org, "default"].at == 7200.0


def default_org_id_of(engine) -> int:
    with engine.begin() as conn:
        return default_org_id(conn)
