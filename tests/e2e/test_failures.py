"""Crashes and silences: kill -9 of the controller under load, an agent that stops heartbeating."""
import os
import signal
import threading

import pytest

from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow


def _no_core_twice(cluster) -> None:
    running = cluster.http.get("/api/v1/jobs", params={"state": "running"}).json()
    cores = [c for j in running for c in j["cores"]]
    assert len(cores) == len(set(cores)), running
    for job in running:
        if job["pid"] and alive(job["pid"]):
            assert cpus_allowed(job["pid"]) == ",".join(map(str, job["local_cores"]))


def test_kill_9_of_the_controller_under_load_loses_nothing(live, store_url):
    cluster = live(database_url=store_url)
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    cluster.start_agent("n2", "1", "affinity")
    sleepers = [cluster.submit(["sleep", "60"]) for _ in range(2)]
    pids = {j["id"]: cluster.wait_pid(j["id"])["pid"] for j in sleepers}
    accepted: list[int] = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                answer = cluster.http.post("/api/v1/jobs", json={"command": ["true"]}, timeout=2)
            except Exception:
                continue  # the controller is down for a moment
            if answer.status_code == 201:
                accepted.append(answer.json()["id"])

    thread = threading.Thread(target=load)
    thread.start()
    try:
        wait_for(lambda: len(accepted) >= 20, what="some submissions under load")
        cluster.kill_controller()
        cluster.start_controller()
        wait_for(lambda: len(accepted) >= 40, what="submissions after the restart")
    finally:  # a failed restart must not leave the load spinning (pytest would never exit)
        stop.set()
        thread.join()

    for job_id, pid in pids.items():
        job = cluster.job(job_id)
        assert job["state"] == "running" and job["pid"] == pid and alive(pid), job
    _no_core_twice(cluster)
    assert all(cluster.job(j)["id"] == j for j in accepted)  # every accepted submission is there
    for job_id in pids:
        cluster.http.post(f"/api/v1/jobs/{job_id}/cancel")
    for job_id in accepted:
        assert cluster.wait_state(job_id, "succeeded", timeout=60)["exit_code"] == 0
    _no_core_twice(cluster)


def test_a_frozen_agent_s_job_is_stopped_by_its_shim_before_it_runs_elsewhere(live):
    """A SIGSTOPped agent renews nothing: its node goes disconnected, then down after its
    grace, and the job's shim has stopped the job by then, so it never runs twice."""
    cluster = live(node_timeout=2, agent_disconnect_grace=2, agent_stop_grace=1)
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    job = cluster.submit(["sleep", "60"])
    first = cluster.wait_pid(job["id"])
    assert first["node"] == "n1"
    cluster.start_agent("n2", "1", "affinity")

    agent = cluster.agents["n1"]
    os.kill(agent.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: cluster.node("n1")["state"] == "disconnected", 15, what="n1 to be marked disconnected")
        wait_for(lambda: cluster.node("n1")["state"] == "down", 15, what="n1 to be marked down")
        again = wait_for(lambda: (j := cluster.job(job["id"]))["state"] == "running" and j["node"] == "n2" and j["pid"] and j,
                         20, what="the requeued job to run on n2")
        assert not alive(first["pid"]), "its shim stopped it before the controller requeued it"
    finally:
        os.kill(agent.pid, signal.SIGCONT)
    wait_for(lambda: cluster.node("n1")["state"] == "up", 15, what="n1 to come back")
    assert alive(again["pid"]) and again["runs"] == 2
    actions = cluster.actions(job["id"])
    assert actions == ["submit", "assign", "start", "lose", "requeue", "assign", "start"]
    moves = [e["action"] for e in cluster.events(node="n1") if e["action"].startswith("node_")]
    assert moves == ["node_disconnected", "node_down", "node_up"]
    _no_core_twice(cluster)
