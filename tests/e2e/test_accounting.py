"""Exact accounting: refusals at submit, waiting reasons, and release of exactly what was held."""
import pytest

from tests.live import alive, wait_for

pytestmark = pytest.mark.slow


def _held(cluster) -> dict[str, list]:
    return {k: v for k, v in cluster.http.get("/summary").json()["core_map"].items() if v is not None}


def test_refusals_waiting_reason_and_exact_release(live):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")

    never = cluster.http.post("/api/v1/jobs", json={"command": ["true"], "cores": 3})
    assert never.status_code == 422
    assert never.json() == {"error": "never_fits", "field": "cores",
                            "message": "cores=3 can never be satisfied: the largest node has 2 (node n1)"}

    blocker = cluster.submit(["sleep", "30"], cores=1, node="n1")
    cluster.wait_pid(blocker["id"])
    waiting = cluster.submit(["true"], cores=2, node="n1")
    reason = "Insufficient CPU: node n1 has 1.00 available, job requires 2.00"
    assert wait_for(lambda: cluster.job(waiting["id"])["reason"] == reason, what="the waiting reason")
    assert cluster.job(waiting["id"])["state"] == "pending"

    refused = cluster.http.post("/api/v1/jobs", json={"command": ["true"], "cores": 2, "node": "n1", "no_wait": True})
    assert refused.status_code == 409
    assert refused.json() == {"error": "insufficient_cpu", "message": reason, "field": "cores"}
    assert len(cluster.http.get("/api/v1/jobs").json()) == 2  # the refused job left nothing behind

    # Cancel frees exactly the blocker's core, and the waiting job takes both.
    assert _held(cluster) == {"0": ["n1", str(blocker["id"])]}
    cluster.http.post(f"/api/v1/jobs/{blocker['id']}/cancel")
    done = cluster.wait_state(waiting["id"], "succeeded")
    assert done["exit_code"] == 0 and cluster.job(blocker["id"])["state"] == "cancelled"
    failing = cluster.submit(["sh", "-c", "exit 7"], cores=2)
    assert cluster.wait_state(failing["id"], "failed")["exit_code"] == 7
    wait_for(lambda: _held(cluster) == {}, what="every core to be free")


def test_every_transition_writes_exactly_one_event(live, store_url):
    cluster = live(database_url=store_url)
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    ok = cluster.submit(["true"])
    bad = cluster.submit(["false"])
    slow = cluster.submit(["sleep", "30"])
    cluster.wait_state(ok["id"], "succeeded")
    cluster.wait_state(bad["id"], "failed")
    pid = cluster.wait_pid(slow["id"])["pid"]
    cluster.http.post(f"/api/v1/jobs/{slow['id']}/cancel")
    wait_for(lambda: not alive(pid), what="the cancelled process to be stopped by its agent")
    per_job = {j: cluster.actions(j) for j in (ok["id"], bad["id"], slow["id"])}
    assert per_job == {ok["id"]: ["submit", "assign", "start", "succeed"], bad["id"]: ["submit", "assign", "start", "fail"],
                       slow["id"]: ["submit", "assign", "start", "cancel"]}
    # Cancelling or completing again changes nothing.
    again = cluster.http.post(f"/api/v1/jobs/{slow['id']}/cancel")
    assert again.status_code == 409 and again.json()["field"] == "id"
    assert cluster.actions(slow["id"]) == ["submit", "assign", "start", "cancel"]


BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"


def test_the_report_says_what_real_runs_used(live):
    """A job burns half a second of CPU; another is cancelled while it sleeps. Each run's shim
    measures it, the exit carries it, and the report sums it: one usage event per run."""
    import sys
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "auto")
    busy = cluster.submit([sys.executable, "-c", BURN], cores=1)
    idle = cluster.submit(["sleep", "30"], cores=1)
    cluster.wait_state(busy["id"], "succeeded", timeout=30)
    cluster.wait_pid(idle["id"])
    cluster.http.post(f"/api/v1/jobs/{idle['id']}/cancel")

    def usage_events(job_id):
        return [e for e in cluster.events(job=job_id) if e["action"] == "usage"]
    wait_for(lambda: usage_events(idle["id"]), what="the cancelled run's late exit and its measurement")
    assert len(usage_events(busy["id"])) == 1 and len(usage_events(idle["id"])) == 1
    lines = {j["id"]: j for j in cluster.http.get("/api/v1/report").json()["jobs"]}
    used = lines[busy["id"]]
    assert 0.3 < used["used_core_seconds"] < 5 and used["peak_memory_mb"] > 0 and used["measured_runs"] == 1
    slept = lines[idle["id"]]
    assert 0 <= slept["used_core_seconds"] < 0.3 and slept["measured_runs"] == 1
    totals = cluster.http.get("/api/v1/report").json()["totals"]
    assert totals["used_core_seconds"] == pytest.approx(used["used_core_seconds"] + slept["used_core_seconds"], abs=2e-3)
    assert totals["peak_memory_mb"] == max(used["peak_memory_mb"], slept["peak_memory_mb"])
