"""The node sweep: a silent node is disconnected first (its jobs keep their cores for its
agent's disconnect grace), then down (its jobs lost and requeued), each move one event."""
from heaven.control.cycle import requeue_unstarted, sweep_silent_nodes
from heaven.store import events, jobs, nodes
from tests.builders import stored_cycle, stored_job, stored_node

TIMEOUT = 10.0


def _running_job_on_a_node_with_grace(engine, grace):
    with engine.begin() as conn:
        stored_node(conn, "n1", 2, 0, disconnect_grace=grace)
        job = stored_job(conn, "a", 1)
    stored_cycle(engine)
    with engine.begin() as conn:
        jobs.mark_started(conn, job, 3.0, "agent:n1", "n1", pid=123)
        nodes.heartbeat(conn, "n1", 4.0, was_away=False)
    return job


def _node_moves(conn):
    return [(e["action"], e["ts"]) for e in events.since(conn) if e["action"].startswith("node_")]


def test_a_silent_node_is_disconnected_then_down_only_after_its_grace(engine):
    job = _running_job_on_a_node_with_grace(engine, grace=30.0)
    with engine.begin() as conn:
        assert sweep_silent_nodes(conn, 4.0 + TIMEOUT - 1, TIMEOUT) == (set(), set())
        assert sweep_silent_nodes(conn, 4.0 + TIMEOUT + 1, TIMEOUT) == ({"n1"}, set())
        assert nodes.get(conn, "n1")["state"] == "disconnected"
        held = jobs.get(conn, job)
        assert held["state"] == "running" and jobs.claims_of(conn, [job]) == {job: [0]}, "it keeps its cores"
        assert sweep_silent_nodes(conn, 4.0 + TIMEOUT + 29, TIMEOUT) == (set(), set()), "still within the grace"
        assert jobs.get(conn, job)["state"] == "running"
        assert sweep_silent_nodes(conn, 4.0 + TIMEOUT + 31, TIMEOUT) == (set(), {"n1"})
        assert nodes.get(conn, "n1")["state"] == "down"
        assert jobs.get(conn, job)["state"] == "pending" and not jobs.claims_of(conn, [job]).get(job)
        assert _node_moves(conn) == [("node_disconnected", 4.0 + TIMEOUT + 1), ("node_down", 4.0 + TIMEOUT + 31)]
        assert [e["action"] for e in events.since(conn, job=job)][-2:] == ["lose", "requeue"]


def test_a_node_back_within_its_grace_keeps_its_jobs(engine):
    job = _running_job_on_a_node_with_grace(engine, grace=30.0)
    with engine.begin() as conn:
        sweep_silent_nodes(conn, 4.0 + TIMEOUT + 1, TIMEOUT)
        assert nodes.heartbeat(conn, "n1", 20.0)
        assert nodes.get(conn, "n1")["state"] == "up"
        assert sweep_silent_nodes(conn, 20.0 + TIMEOUT - 1, TIMEOUT) == (set(), set())
        assert jobs.get(conn, job)["state"] == "running"
        assert [a for a, _ in _node_moves(conn)] == ["node_disconnected", "node_up"]


def test_a_node_without_a_grace_goes_both_steps_in_one_sweep(engine):
    job = _running_job_on_a_node_with_grace(engine, grace=None)  # an agent that announces none
    with engine.begin() as conn:
        assert sweep_silent_nodes(conn, 4.0 + TIMEOUT + 1, TIMEOUT) == ({"n1"}, {"n1"})
        assert [a for a, _ in _node_moves(conn)] == ["node_disconnected", "node_down"]
        assert jobs.get(conn, job)["state"] == "pending"


def test_an_unstarted_job_on_a_disconnected_node_waits_for_the_sweep(engine):
    with engine.begin() as conn:
        stored_node(conn, "n1", 2, 0, disconnect_grace=30.0)
        job = stored_job(conn, "a", 1)
    stored_cycle(engine)  # assigned at 3.0; its agent may have started it and not said so yet
    with engine.begin() as conn:
        sweep_silent_nodes(conn, 1.0 + TIMEOUT + 1, TIMEOUT)
        assert requeue_unstarted(conn, 100.0, 5.0) == set()
        assert jobs.get(conn, job)["state"] == "assigned"
        nodes.heartbeat(conn, "n1", 101.0)
        assert requeue_unstarted(conn, 102.0, 5.0) == {"n1"}
