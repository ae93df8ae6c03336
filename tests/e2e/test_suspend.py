"""HEAVEN_GIVEBACK=suspend on a real agent: the evicted job's process is frozen, not killed, and
resumes with the same PID once the job that took its core has finished."""
import pytest

from tests.live import alive, wait_for

pytestmark = pytest.mark.slow


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_low_job_is_suspended_for_a_critical_one_then_resumes_with_the_same_pid(live):
    cluster = live(steal="off", giveback="suspend")
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")  # one core: the critical job can only have the low one's
    low = cluster.submit(["sleep", "3"], priority="low", name="low")
    pid = cluster.wait_pid(low["id"])["pid"]
    critical = cluster.submit(["sleep", "1"], priority="critical")
    wait_for(lambda: cluster.job(low["id"])["state"] == "suspended" and _proc_state(pid) == "T",
             what="the low job to be suspended (its process stopped)")
    assert alive(pid) and cluster.job(low["id"])["cores"] == []
    assert cluster.wait_state(critical["id"], "succeeded")["exit_code"] == 0
    wait_for(lambda: cluster.job(low["id"])["state"] in ("running", "succeeded") and
             (not alive(pid) or _proc_state(pid) != "T"), what="the low job to resume")
    done = cluster.wait_state(low["id"], "succeeded", timeout=20)
    assert (done["exit_code"], done["pid"], done["runs"]) == (0, pid, 1)
    assert cluster.actions(low["id"]) == ["submit", "assign", "start", "suspend", "resume", "succeed"]
    reasons = [e["detail"] for e in cluster.events(job=low["id"]) if e["action"] == "suspend"]
    assert reasons == [f"evicted for job {critical['id']} (priority 1000 > -100)"]
