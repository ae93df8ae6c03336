"""What an agent's report says beyond starts and exits: a job its shim stopped while the agent
was cut off, or that a drain stopped, is requeued (not failed); a leaving agent's node drains."""
from __future__ import annotations

from heaven.wire.agent import DISCONNECTED, DRAINED, OUT_OF_MEMORY
from tests.control.conftest import register
from tests.live import wait_for


def _job(client, job_id: int) -> dict:
    return client.get(f"/api/v1/jobs/{job_id}").json()


def _actions(client, job_id: int) -> list[str]:
    return [e["action"] for e in client.get("/api/v1/events", params={"job": job_id}).json() if e["action"] != "wait"]


def _running(client) -> dict:
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"]}).json()
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement")
    started = {"started": [{"job": job["id"], "run": 1, "pid": 4242}]}
    assert client.post("/api/v1/agents/n1/report", json=started).status_code == 200
    return job


def test_a_job_stopped_for_lack_of_contact_or_by_a_drain_is_requeued_not_failed(controller_app):
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    for cause in (DISCONNECTED, DRAINED):
        job = _running(client)
        stopped = {"exits": [{"job": job["id"], "run": 1, "exit_code": -15, "cause": cause}]}
        assert client.post("/api/v1/agents/n1/report", json=stopped).status_code == 200
        assert _actions(client, job["id"])[:5] == ["submit", "assign", "start", "lose", "requeue"]
        again = wait_for(lambda: (j := _job(client, job["id"]))["state"] == "assigned" and j, what="the next run")
        assert again["runs"] == 2 and again["exit_code"] is None
        client.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_a_leaving_agent_s_node_takes_nothing_new(controller_app):
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    assert client.post("/api/v1/agents/n1/report", json={"leaving": True}).status_code == 200
    assert client.get("/api/v1/nodes/n1").json()["state"] == "drain"
    job = client.post("/api/v1/jobs", json={"command": ["true"]}).json()
    wait_for(lambda: _job(client, job["id"])["reason"], what="a waiting reason")
    assert _job(client, job["id"])["state"] == "pending"
    register(client, "n1", 1)  # its agent registers again: up, and the job is placed
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement after the return")


def _usage_events(client, job_id: int) -> list[tuple[str, str]]:
    return [(e["node"], e["detail"]) for e in client.get("/api/v1/events", params={"job": job_id}).json()
            if e["action"] == "usage"]


def test_an_exit_s_measurement_is_one_usage_event_per_run_and_the_report_sums_it(controller_app):
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    job = _running(client)
    ended = {"exits": [{"job": job["id"], "run": 1, "exit_code": 0, "cpu_seconds": 1.25, "peak_memory_mb": 20.5}]}
    assert client.post("/api/v1/agents/n1/report", json=ended).status_code == 200
    assert client.post("/api/v1/agents/n1/report", json=ended).status_code == 200  # sent again: its answer was lost
    assert _usage_events(client, job["id"]) == [("n1", "run 1: 1.250 cpu-seconds, peak 20.5 MB")]
    assert _job(client, job["id"])["state"] == "succeeded"
    [line] = [j for j in client.get("/api/v1/report").json()["jobs"] if j["id"] == job["id"]]
    assert (line["used_core_seconds"], line["peak_memory_mb"], line["measured_runs"]) == (1.25, 20.5, 1)

    unmeasured = _running(client)  # an agent from before the measurement: no event, null figures
    quiet = {"exits": [{"job": unmeasured["id"], "run": 1, "exit_code": 0}]}
    assert client.post("/api/v1/agents/n1/report", json=quiet).status_code == 200
    assert _usage_events(client, unmeasured["id"]) == []
    [line] = [j for j in client.get("/api/v1/report").json()["jobs"] if j["id"] == unmeasured["id"]]
    assert (line["used_core_seconds"], line["peak_memory_mb"], line["measured_runs"]) == (None, None, 0)


def test_a_cancelled_run_s_late_exit_is_measured_but_not_another_node_s(controller_app):
    """A cancel ends the run at once; the agent's exit, with what the run used, comes after."""
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    job = _running(client)
    register(client, "n2", 1)  # after the placement: the job is n1's
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    stranger = {"exits": [{"job": job["id"], "run": 1, "exit_code": -15, "cpu_seconds": 9.0}]}
    assert client.post("/api/v1/agents/n2/report", json=stranger).status_code == 200
    wrong_run = {"exits": [{"job": job["id"], "run": 2, "exit_code": -15, "cpu_seconds": 9.0}]}
    assert client.post("/api/v1/agents/n1/report", json=wrong_run).status_code == 200
    assert _usage_events(client, job["id"]) == []
    late = {"exits": [{"job": job["id"], "run": 1, "exit_code": -15, "cpu_seconds": 0.5}]}
    assert client.post("/api/v1/agents/n1/report", json=late).status_code == 200
    assert _usage_events(client, job["id"]) == [("n1", "run 1: 0.500 cpu-seconds, peak memory not measured")]
    assert _job(client, job["id"])["state"] == "cancelled"


def test_a_stored_memory_step_that_would_not_raise_the_request_fails_the_job_not_the_report(controller_app, tmp_path):
    """Steps such as 1x were taken before steps had to rise; the job they were stored with ends
    failed with its reason, and the agent's report still commits (it once answered 500, forever)."""
    from sqlalchemy import create_engine, update

    from heaven.store.tables import jobs as job_table
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "memory_mb": 100, "retry_memory": "2x"}).json()
    engine = create_engine(f"sqlite:///{tmp_path / 'heaven.db'}")
    with engine.begin() as conn:
        conn.execute(update(job_table).where(job_table.c.id == job["id"]).values(retry_memory="1x"))
    engine.dispose()
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement")
    started = {"started": [{"job": job["id"], "run": 1, "pid": 4242}]}
    assert client.post("/api/v1/agents/n1/report", json=started).status_code == 200
    killed = {"exits": [{"job": job["id"], "run": 1, "exit_code": -9, "cause": OUT_OF_MEMORY}]}
    answer = client.post("/api/v1/agents/n1/report", json=killed)
    assert answer.status_code == 200, answer.text
    ended = _job(client, job["id"])
    assert ended["state"] == "failed" and ended["runs"] == 1


def test_the_usage_window_keeps_demand_use_plus_run_queue_wait(controller_app):
    """A job crowded off its core (or with more busy threads than cores) got 30 % but wanted
    two cores: the window the core's usage estimate reads keeps 200, what people read stays 30."""
    from sqlalchemy import select

    from heaven.store.tables import jobs as job_table

    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    job = _running(client)
    for sample in ({"cpu_percent": 30.0, "wait_percent": 170.0, "rss_mb": 1.0, "pids": [4242]},
                   {"cpu_percent": 40.0, "rss_mb": 1.0, "pids": [4242]}):  # an agent that does not measure wait
        assert client.post("/api/v1/agents/n1/report", json={"jobs": {str(job["id"]): sample}}).status_code == 200
    with client.app.state.controller.store.read() as conn:
        usage = conn.execute(select(job_table.c.usage).where(job_table.c.id == job["id"])).scalar_one()
    assert usage == [200.0, 40.0]
    assert _job(client, job["id"])["cpu_percent"] == 40.0
