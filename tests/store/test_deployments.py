"""Services in the store, on SQLite and PostgreSQL: a crash requeues with doubling back-off
(capped at 5 minutes), a clean exit completes, an eviction goes back to pending; held and
backing-off services stay out of the scheduler's snapshot until they may run; a placed
image without a command fails with the reason."""
from sqlalchemy import insert

from heaven.core.states import JobState
from heaven.store import deployments, jobs, nodes
from heaven.store.engine import default_org_id
from heaven.store.snapshot import load_snapshot
from heaven.store.tables import core_claims


def _service(conn, held: bool = False, **values) -> int:
    return jobs.insert_job(conn, {"org_id": default_org_id(conn), "name": "svc", "kind": "service",
                                  "command": ["sleep", "9"], "cores": 1, "min_cores": 1, "storage_mb": 0,
                                  "memory_mb": 0, "gpus": 0, "priority": 0, "held": held, **values}, 1.0)


def _running_on_node(conn, job_id: int, state: str = "running") -> None:
    if nodes.get(conn, "n1") is None:
        nodes.register(conn, {"name": "n1", "org_id": default_org_id(conn), "core_offset": 0, "local_cores": [0, 1],
                              "memory_mb": 100}, 1.0, "test")
    jobs.set_fields(conn, job_id, state=state, node="n1")
    conn.execute(insert(core_claims).values(core=0, job_id=job_id, node="n1"))


def test_a_crash_requeues_with_growing_back_off_and_one_event_each(engine):
    with engine.begin() as conn:
        job_id = _service(conn)
        now = 100.0
        for restarts, delay in enumerate([1, 2, 4]):
            _running_on_node(conn, job_id)
            assert jobs.finish(conn, job_id, 1 if restarts < 2 else -9, now, "agent:n1")
            row = jobs.get(conn, job_id)
            assert (row["state"], row["restarts"], row["not_before"]) == ("pending", restarts + 1, now + delay)
            assert jobs.nodes_of(conn, job_id) == []  # its core is free
            now += 10
        assert row["reason"] == "back-off 4 s: restarting after signal 9"
        requeues = [e for e in _events(conn, job_id) if e.action == "requeue"]
        assert [e.detail for e in requeues] == ["back-off 1 s: restarting after exit 1",
                                                "back-off 2 s: restarting after exit 1",
                                                "back-off 4 s: restarting after signal 9"]


def test_a_clean_exit_completes_a_service(engine):
    with engine.begin() as conn:
        job_id = _service(conn)
        _running_on_node(conn, job_id)
        assert jobs.finish(conn, job_id, 0, 5.0, "agent:n1")
        assert jobs.get(conn, job_id)["state"] == JobState.SUCCEEDED


def test_an_evicted_service_goes_back_to_pending(engine):
    with engine.begin() as conn:
        job_id = _service(conn)
        _running_on_node(conn, job_id)
        jobs.requeue_or_end(conn, job_id, JobState.PREEMPTED, 5.0, "evicted", "scheduler")
        assert jobs.get(conn, job_id)["state"] == JobState.PENDING


def test_held_and_backing_off_services_are_not_in_the_snapshot(engine):
    with engine.begin() as conn:
        held = _service(conn, held=True)
        waiting = _service(conn, not_before=50.0)
        free = _service(conn)
        assert {j.id for j in load_snapshot(conn, now=49.0).pending()} == {free}
        assert {j.id for j in load_snapshot(conn, now=50.0).pending()} == {free, waiting}
        assert deployments.release(conn, held, 51.0, "test")
        assert not deployments.release(conn, held, 52.0, "test")  # once only
        assert held in {j.id for j in load_snapshot(conn, now=51.0).pending()}


def _events(conn, job_id: int):
    from sqlalchemy import select

    from heaven.store.tables import events
    return conn.execute(select(events).where(events.c.job == job_id).order_by(events.c.seq)).all()
