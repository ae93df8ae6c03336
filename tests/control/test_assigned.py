"""``assigned``: placed on a node, no process yet. Only an agent's report of a live
process makes a job ``running``; walltime counts from then; a start that fails is
a failure of the job, not of a running one."""
from __future__ import annotations

import time

from tests.control.conftest import register
from tests.live import wait_for


def _job(client, job_id: int) -> dict:
    return client.get(f"/api/v1/jobs/{job_id}").json()


def _actions(client, job_id: int) -> list[str]:
    return [e["action"] for e in client.get("/api/v1/events", params={"job": job_id}).json() if e["action"] != "wait"]


def test_placed_is_assigned_until_the_agent_reports_a_process(controller_app):
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 2)
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "walltime": 0.5}).json()
    assigned = wait_for(lambda: (j := _job(client, job["id"]))["state"] != "pending" and j, what="placement")
    assert assigned["state"] == "assigned"
    assert assigned["started_at"] is None and assigned["cores"] == [0]
    summary = client.get("/summary").json()
    assert summary["allocations"] == {} and summary["core_map"]["0"] is None
    time.sleep(1.5)  # three walltimes: the clock must not run before a process exists
    assert _job(client, job["id"])["state"] == "assigned"

    answer = client.post("/api/v1/agents/n1/report", json={"started": [{"job": job["id"], "run": 1, "pid": 4242}]})
    assert answer.status_code == 200
    running = _job(client, job["id"])
    assert running["state"] == "running" and running["pid"] == 4242 and running["started_at"] is not None
    assert client.get("/summary").json()["allocations"] == {f"n1|{job['id']}": [0]}
    # Now the walltime runs: it fails as timed out, from running.
    failed = wait_for(lambda: (j := _job(client, job["id"]))["state"] == "failed" and j, what="the walltime")
    assert failed["finished_at"] - failed["started_at"] >= 0.5
    assert _actions(client, job["id"]) == ["submit", "assign", "start", "fail"]


def test_a_start_that_fails_fails_the_assigned_job(controller_app):
    client = controller_app(scheduler_interval=0.2)
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["/no/such/program"]}).json()
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement")
    report = {"failed_to_start": [{"job": job["id"], "run": 1, "exit_code": 127}]}
    assert client.post("/api/v1/agents/n1/report", json=report).status_code == 200
    failed = _job(client, job["id"])
    assert failed["state"] == "failed" and failed["exit_code"] == 127 and failed["started_at"] is None
    assert _actions(client, job["id"]) == ["submit", "assign", "fail"]
    # Its core is free again: the next job is placed.
    nxt = client.post("/api/v1/jobs", json={"command": ["true"]}).json()
    wait_for(lambda: _job(client, nxt["id"])["state"] == "assigned", what="the freed core to be used")


def test_a_start_and_its_exit_in_one_report(controller_app):
    """A short job's start and exit travel together: assigned -> running -> succeeded."""
    client = controller_app()
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True}).json()
    report = {"started": [{"job": job["id"], "run": 1, "pid": 99}],
              "exits": [{"job": job["id"], "run": 1, "exit_code": 0}]}
    assert client.post("/api/v1/agents/n1/report", json=report).status_code == 200
    assert _job(client, job["id"])["state"] == "succeeded"
    assert _actions(client, job["id"]) == ["submit", "assign", "start", "succeed"]


def test_assigned_jobs_can_be_cancelled_and_show_in_the_assignments(controller_app):
    client = controller_app()
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True}).json()
    listed = client.get("/api/v1/agents/n1/assignments").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    assert client.get("/api/v1/agents/n1/assignments").json()["jobs"] == []


def test_a_gang_part_that_fails_to_start_fails_the_gang(controller_app):
    """The first part started (the gang is running); another part's failed start must
    still fail the whole gang and free every part's cores."""
    client = controller_app()
    register(client, "n1", 1)
    register(client, "n2", 1)
    gang = client.post("/api/v1/jobs", json={"command": ["true"], "nodes": 2, "no_wait": True}).json()
    assert sorted(gang["placed_on"]) == ["n1", "n2"]
    client.post("/api/v1/agents/n1/report", json={"started": [{"job": gang["id"], "run": 1, "pid": 7}]})
    assert _job(client, gang["id"])["state"] == "running"
    client.post("/api/v1/agents/n2/report", json={"failed_to_start": [{"job": gang["id"], "run": 1, "exit_code": 127}]})
    failed = _job(client, gang["id"])
    assert failed["state"] == "failed" and failed["cores"] == [] and failed["exit_code"] == 127
    assert client.get("/api/v1/agents/n1/assignments").json()["jobs"] == []  # n1 stops its part


def test_a_job_its_agent_never_starts_goes_back_to_the_queue(controller_app):
    client = controller_app(scheduler_interval=0.2, start_timeout=0.5)
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["true"]}).json()
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement")

    def heartbeat_without_it() -> bool:  # the agent speaks, and names no process for it
        client.post("/api/v1/agents/n1/report", json={})
        return "lose" in _actions(client, job["id"])
    wait_for(heartbeat_without_it, what="the start timeout")
    actions = _actions(client, job["id"])
    assert actions[:5] == ["submit", "assign", "lose", "requeue", "assign"]
    # A late start report of the first attempt is ignored: it names run 1.
    client.post("/api/v1/agents/n1/report", json={"started": [{"job": job["id"], "run": 1, "pid": 5}]})
    again = _job(client, job["id"])
    assert again["runs"] >= 2 and again["pid"] != 5


def test_a_job_whose_node_fell_silent_is_not_requeued_by_the_start_timeout(controller_app):
    """Its agent may have started it and not been able to say so (the controller was down, or
    leaderless during a take-over): only the node sweep, after the node's grace, may requeue it.
    When the agent speaks again with the start, the job runs its first and only run."""
    client = controller_app(scheduler_interval=0.2, start_timeout=0.3, node_timeout=60)
    register(client, "n1", 1)
    job = client.post("/api/v1/jobs", json={"command": ["true"]}).json()
    wait_for(lambda: _job(client, job["id"])["state"] == "assigned", what="placement")
    time.sleep(2.5)  # the sweep runs every second: at least two pass the start timeout
    assert "lose" not in _actions(client, job["id"]) and _job(client, job["id"])["state"] == "assigned"
    client.post("/api/v1/agents/n1/report", json={"started": [{"job": job["id"], "run": 1, "pid": 4242}]})
    running = _job(client, job["id"])
    assert running["state"] == "running" and running["runs"] == 1 and running["pid"] == 4242
