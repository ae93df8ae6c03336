"""A job runs as a real process pinned to exactly its granted cores; children inherit them."""

import pytest

from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["cgroup", "affinity"])
def test_job_and_children_are_pinned_to_their_local_cores(live, mode):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", mode)
    job = cluster.submit(["sh", "-c", "sleep 30 & sleep 30 & wait"], cores=2)
    running = cluster.wait_pid(job["id"])
    assert running["local_cores"] == [0, 1] and running["cores"] == [0, 1]
    child_pids = wait_for(lambda: [int(p) for p in open(f"/proc/{running['pid']}/task/{running['pid']}/children").read().split()],
                          what="the job's children")
    for pid in [running["pid"], *child_pids]:
        assert cpus_allowed(pid) == "0-1"
    cluster.http.post(f"/api/v1/jobs/{job['id']}/cancel")
    wait_for(lambda: not alive(running["pid"]), what="the cancelled job's process to end")


@pytest.mark.parametrize("mode", ["cgroup", "affinity"])
def test_one_core_job_sees_only_its_core(live, mode):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "1", mode)
    job = cluster.submit(["python3", "-c", "import os,time; print(sorted(os.sched_getaffinity(0))); time.sleep(0.5)"])
    done = cluster.wait_state(job["id"], "succeeded")
    assert done["exit_code"] == 0
    logs = cluster.http.get(f"/api/v1/jobs/{job['id']}/logs")
    assert logs.text.strip() == "[1]"
