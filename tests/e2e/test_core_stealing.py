"""The heart of the product, on real agents and real processes, proven from /proc:
an idle job's spare core moves live to a waiting job, and comes back when it gets busy."""
import pytest

from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow

STEAL = {"steal_warmup": 1, "steal_cooldown": 1, "agent_heartbeat": 0.5}


def _idle_then_busy(flag) -> list[str]:
    # Idles until the flag exists, then keeps two processes busy: all it was granted.
    return ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.1; done; "
                        "(while :; do :; done) & (while :; do :; done) & wait"]


@pytest.mark.parametrize("mode", ["cgroup", "affinity"])
def test_idle_cores_move_live_and_come_back(live, tmp_path, mode):
    cluster = live(**STEAL)
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", mode)
    flag = tmp_path / "busy"
    a = cluster.submit(_idle_then_busy(flag), cores=2, min_cores=1, name="over-asker")
    a_pid = cluster.wait_pid(a["id"])["pid"]
    assert cpus_allowed(a_pid) == "0-1"
    b = cluster.submit(["sleep", "60"], cores=1, name="waiter")
    assert cluster.job(b["id"])["state"] == "pending"

    # A idles: after the warm-up its spare core is taken live; B runs on it.
    b_running = cluster.wait_pid(b["id"], timeout=20)
    a_now = cluster.job(a["id"])
    assert a_now["pid"] == a_pid and len(a_now["local_cores"]) == 1
    wait_for(lambda: cpus_allowed(a_pid) == str(a_now["local_cores"][0]), what="A's cpuset to shrink live")
    assert cpus_allowed(b_running["pid"]) == str(b_running["local_cores"][0])
    assert set(a_now["local_cores"]) | set(b_running["local_cores"]) == {0, 1}

    # A gets busy on all its processes: it gets its core back within seconds; B is requeued.
    flag.touch()
    wait_for(lambda: cpus_allowed(a_pid) == "0-1", 20, what="A to get its core back")
    assert cluster.job(a["id"])["pid"] == a_pid
    wait_for(lambda: not alive(b_running["pid"]), 10, what="B's process to be stopped")
    assert cluster.job(b["id"])["state"] in ("pending", "running")
    a_events = cluster.actions(a["id"])
    b_events = cluster.actions(b["id"])
    assert a_events[:5] == ["submit", "assign", "start", "shrink", "grow"]
    assert b_events[:5] == ["submit", "assign", "start", "preempt", "requeue"]
    cluster.http.post(f"/api/v1/jobs/{a['id']}/cancel")
    cluster.http.post(f"/api/v1/jobs/{b['id']}/cancel")
