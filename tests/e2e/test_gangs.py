"""Gangs on real agents: one job, a part on each of N nodes, all at once or not at all."""
import subprocess

import pytest

from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow


def _pids_of(cmdline: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "-x", cmdline], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_a_gang_runs_one_part_per_node_and_ends_with_its_parts(live):
    cluster = live(steal="off")
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    cluster.start_agent("n2", "1", "affinity")
    job = cluster.submit(["sleep", "2.437"], nodes=2)
    running = cluster.wait_pid(job["id"])
    assert sorted(running["placed_on"]) == ["n1", "n2"] and sorted(running["local_cores"]) == [0, 1]
    parts = wait_for(lambda: len(p := _pids_of("sleep 2.437")) == 2 and p, what="a part on each node")
    assert sorted(cpus_allowed(p) for p in parts) == ["0", "1"]
    assert cluster.wait_state(job["id"], "succeeded")["exit_code"] == 0
    assert cluster.actions(job["id"]) == ["submit", "assign", "start", "succeed"]


def test_a_failing_part_fails_the_gang_and_stops_the_other_parts(live):
    cluster = live(steal="off")
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    cluster.start_agent("n2", "1", "affinity")
    script = "grep -q 'Cpus_allowed_list:[[:space:]]*0$' /proc/self/status && exit 3; exec sleep 30.5"
    job = cluster.submit(["sh", "-c", script], nodes=2)
    failed = cluster.wait_state(job["id"], "failed")
    assert failed["exit_code"] == 3
    wait_for(lambda: not _pids_of("sleep 30.5"), what="the surviving part to be stopped")


def test_a_gang_waits_whole_while_a_node_is_busy(live):
    cluster = live(steal="off")
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    cluster.start_agent("n2", "1", "affinity")
    single = cluster.submit(["sleep", "30"], node="n1")
    pid = cluster.wait_pid(single["id"])["pid"]
    gang = cluster.submit(["true"], nodes=2)
    reason = wait_for(lambda: cluster.job(gang["id"])["reason"], what="the gang's reason")
    assert reason.startswith("gang of 2 nodes with 1 cores each: only 1 can hold a part now")
    assert cluster.job(gang["id"])["placed_on"] == []
    too_big = cluster.http.post("/api/v1/jobs", json={"command": ["true"], "nodes": 3})
    assert too_big.status_code == 422 and too_big.json()["field"] == "nodes"
    cluster.http.post(f"/api/v1/jobs/{single['id']}/cancel")
    wait_for(lambda: not alive(pid), what="the single job to stop")
    assert cluster.wait_state(gang["id"], "succeeded")["exit_code"] == 0
