"""Preemption, dependencies and quotas on real agents and real processes."""
import pytest

from tests.live import alive, wait_for

pytestmark = pytest.mark.slow


def test_a_critical_job_evicts_the_newest_low_job_which_is_requeued_and_finishes(live):
    cluster = live(steal="off")
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    old = cluster.submit(["sleep", "4"], priority="low", name="old")
    old_pid = cluster.wait_pid(old["id"])["pid"]
    new = cluster.submit(["sleep", "3"], priority="low", name="new")
    new_pid = cluster.wait_pid(new["id"])["pid"]
    critical = cluster.submit(["sleep", "1"], priority="critical")
    cluster.wait_pid(critical["id"])
    wait_for(lambda: not alive(new_pid), what="the evicted job's process to stop")
    assert alive(old_pid) and cluster.job(old["id"])["state"] == "running"
    assert cluster.job(new["id"])["state"] in ("pending", "running")
    assert cluster.wait_state(critical["id"], "succeeded")["exit_code"] == 0
    finished = cluster.wait_state(new["id"], "succeeded", timeout=20)
    assert finished["runs"] == 2 and finished["submitted_at"] == new["submitted_at"]
    assert cluster.actions(new["id"]) == ["submit", "assign", "start", "preempt", "requeue", "assign", "start", "succeed"]
    assert cluster.wait_state(old["id"], "succeeded")["runs"] == 1
    waits = [e["detail"] for e in cluster.events(job=new["id"]) if e["action"] == "wait"]
    assert waits and waits[0].startswith("Insufficient CPU")  # why it waited is in the log


def test_dependencies_wait_start_after_and_cancel_on_failure(live):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    failing = cluster.submit(["sh", "-c", "sleep 1; exit 1"])
    ok_after = cluster.submit(["true"], after=[failing["id"]])
    any_after = cluster.submit(["true"], after_any=[failing["id"]])
    assert cluster.job(ok_after["id"])["state"] == "pending"
    reason = wait_for(lambda: cluster.job(any_after["id"])["reason"], what="a waiting reason")
    assert reason == f"waiting for job {failing['id']} to end"
    ended = cluster.wait_state(failing["id"], "failed")
    cancelled = cluster.wait_state(ok_after["id"], "cancelled")
    assert f"dependency {failing['id']} ended failed" in cancelled["reason"]
    ran = cluster.wait_state(any_after["id"], "succeeded")
    assert ran["started_at"] >= ended["finished_at"]
    succeeding = cluster.submit(["sleep", "0.5"])
    chained = cluster.submit(["true"], after=[succeeding["id"]])
    first = cluster.wait_state(succeeding["id"], "succeeded")
    assert cluster.wait_state(chained["id"], "succeeded")["started_at"] >= first["finished_at"]
    unknown = cluster.http.post("/api/v1/jobs", json={"command": ["true"], "after": [9999]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "after"


def test_a_cluster_never_exceeds_its_quota(live):
    cluster = live(steal="off")
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity", cluster="lab")
    lab = next(c for c in cluster.http.get("/api/v1/clusters").json() if c["name"] == "lab")  # made as n1 joined
    assert cluster.http.patch(f"/api/v1/clusters/{lab['id']}", json={"quota_cores": 1}).status_code == 200
    first = cluster.submit(["sleep", "30"], cluster="lab")
    second = cluster.submit(["sleep", "30"], cluster="lab")
    cluster.wait_pid(first["id"])
    reason = "cluster lab quota: 1 of 1 cores in use, job requires 1"
    assert wait_for(lambda: cluster.job(second["id"])["reason"], what="a reason") == reason
    assert cluster.job(second["id"])["state"] == "pending"
    lab = cluster.http.get(f"/api/v1/clusters/{lab['id']}").json()
    assert lab["allocated"]["cores"] == 1 and lab["quota"]["cores"] == 1 and lab["nodes"] == ["n1"]
    assert lab["available"]["cores"] == 0
    cluster.http.post(f"/api/v1/jobs/{first['id']}/cancel")
    cluster.wait_pid(second["id"])
    cluster.http.post(f"/api/v1/jobs/{second['id']}/cancel")
