"""An agent killed with -9 and restarted at once (a crash, an upgrade) keeps its running
work: the job's shim holds it, the new agent re-adopts it and reports its real exit code."""
import os
import signal
from pathlib import Path

import pytest

from tests.live import alive, wait_for

pytestmark = pytest.mark.slow


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def controlled_job(tmp_path):
    """A job that counts its starts in a file and ends with code 7 when the test says so."""
    marker, go = tmp_path / "starts", tmp_path / "go"
    return marker, go, ["sh", "-c", f"echo started >> {marker}; while [ ! -e {go} ]; do sleep 0.05; done; exit 7"]


@pytest.mark.parametrize("mode", ["cgroup", "affinity"])
def test_a_job_survives_kill_9_of_its_agent_and_is_re_adopted(live, tmp_path, mode):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "1", mode)
    marker, go, command = controlled_job(tmp_path)
    job = cluster.submit(command)
    pid = cluster.wait_pid(job["id"])["pid"]
    shim = parent_of(pid)
    assert "shim.py" in cmdline(shim), "the job's parent is its shim, not the agent"

    old_agent = cluster.agents["n1"]
    old_agent.send_signal(signal.SIGKILL)
    old_agent.wait()
    assert alive(pid) and alive(shim), "kill -9 of the agent must not touch the job"
    cluster.start_agent("n1", "1", mode)
    new_agent = cluster.agents["n1"]
    wait_for(lambda: "recovered 1 running job" in (tmp_path / "agent-n1.log").read_text(), what="the re-adoption")

    again = cluster.job(job["id"])
    assert again["state"] == "running" and again["pid"] == pid and alive(pid), again
    assert parent_of(pid) == shim
    if mode == "cgroup":
        assert "/heaven/n1." in Path(f"/proc/{pid}/cgroup").read_text(), "still in its cgroup"
    go.touch()
    done = cluster.wait_state(job["id"], "failed")
    assert done["exit_code"] == 7, "the real exit code, through the new agent"
    assert marker.read_text() == "started\n", "the job ran once"
    assert cluster.actions(job["id"]).count("start") == 1
    assert new_agent.poll() is None


def test_an_exit_while_the_agent_is_away_is_reported_by_the_next(live, tmp_path):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "1", "affinity")
    marker, go, command = controlled_job(tmp_path)
    job = cluster.submit(command)
    pid = cluster.wait_pid(job["id"])["pid"]
    shim = parent_of(pid)
    cluster.agents["n1"].send_signal(signal.SIGKILL)
    cluster.agents["n1"].wait()
    go.touch()
    wait_for(lambda: not alive(shim), what="the job and its shim to end while no agent runs")
    assert cluster.job(job["id"])["state"] == "running", "nobody has told the controller yet"
    cluster.start_agent("n1", "1", "affinity")
    done = cluster.wait_state(job["id"], "failed")
    assert done["exit_code"] == 7
    assert marker.read_text() == "started\n"


def test_a_job_whose_shim_died_too_is_killed_not_left_unsupervised(live, tmp_path):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "cgroup")
    _, _, command = controlled_job(tmp_path)
    job = cluster.submit(command)
    pid = cluster.wait_pid(job["id"])["pid"]
    shim = parent_of(pid)
    cluster.agents["n1"].kill()  # SIGKILL: no chance to stop its jobs
    cluster.agents["n1"].wait()
    os.kill(shim, signal.SIGKILL)
    wait_for(lambda: not alive(shim), what="the shim to die")
    assert alive(pid), "an orphan without a supervisor"
    cluster.start_agent("n1", "0-1", "cgroup")
    wait_for(lambda: not alive(pid), 15, what="the new agent to kill the unsupervised job")
    done = cluster.wait_state(job["id"], "failed")
    assert done["exit_code"] == -signal.SIGKILL


def test_sigterm_of_an_agent_leaves_its_jobs_and_only_a_drain_stops_them(live, tmp_path):
    """SIGTERM (an upgrade, a service restart) ends the agent alone: the job keeps its PID and
    is re-adopted by the next agent. SIGUSR1 (a drain) stops the job, which is requeued, and
    the node takes nothing new until its agent registers again."""
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "auto")
    marker, go, command = controlled_job(tmp_path)
    job = cluster.submit(command)
    pid = cluster.wait_pid(job["id"])["pid"]
    shim = parent_of(pid)

    cluster.agents["n1"].send_signal(signal.SIGTERM)
    assert cluster.agents["n1"].wait(30) == 0
    log = tmp_path / "agent-n1.log"
    assert "its 1 job keep running under their shims" in log.read_text()
    assert alive(pid) and alive(shim), "SIGTERM of the agent must not touch the job"
    cluster.start_agent("n1", "0-1", "auto")
    wait_for(lambda: "recovered 1 running job" in log.read_text(), what="the re-adoption")
    again = cluster.job(job["id"])
    assert again["state"] == "running" and again["pid"] == pid and again["runs"] == 1, again

    other = cluster.submit(["sleep", "300"])
    other_pid = cluster.wait_pid(other["id"])["pid"]
    cluster.agents["n1"].send_signal(signal.SIGUSR1)
    assert cluster.agents["n1"].wait(30) == 0
    assert not alive(pid) and not alive(other_pid), "a drain stops every job"
    assert "drained agent n1: stopped 2 jobs" in log.read_text()
    assert cluster.node("n1")["state"] == "drain"
    for job_id in (job["id"], other["id"]):
        requeued = cluster.job(job_id)
        assert requeued["state"] == "pending" and requeued["exit_code"] is None, requeued
        assert cluster.actions(job_id)[-2:] == ["lose", "requeue"]
    assert marker.read_text() == "started\n"

    cluster.start_agent("n1", "0-1", "auto")  # registered again: up, and the jobs run again
    assert cluster.wait_pid(job["id"])["runs"] == 2
    go.touch()
    assert cluster.wait_state(job["id"], "failed")["exit_code"] == 7
    assert marker.read_text() == "started\nstarted\n", "ran again only after the drain stopped it"
