"""A job killed by its memory limit, on a real memory-limited cgroup: it ends failed and its
event says why (the cgroup's OOM counter, read by the agent)."""
import sys

import pytest

pytestmark = pytest.mark.slow

HOG = "b = bytearray(256 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n"


def test_an_out_of_memory_kill_is_the_recorded_reason(live):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "1", "cgroup")
    job = cluster.submit([sys.executable, "-c", HOG], memory_mb=32)
    done = cluster.wait_state(job["id"], "failed", timeout=60)
    assert done["exit_code"] == -9
    fail = [e for e in cluster.events(job=job["id"]) if e["action"] == "fail"]
    assert fail and fail[-1]["detail"].startswith("out of memory"), fail


def test_with_retry_memory_it_is_requeued_per_step_with_a_raised_request(live):
    cluster = live(retry_memory="2x,4x")
    cluster.start_controller()
    cluster.start_agent("n1", "1", "cgroup")
    needs_100mb = HOG.replace("256", "100")  # over 32 and 64 MB, under 128 MB (4x)
    job = cluster.submit([sys.executable, "-c", needs_100mb], memory_mb=32)
    done = cluster.wait_state(job["id"], "succeeded", "failed", timeout=90)
    assert done["state"] == "succeeded" and done["memory_mb"] == 128, done
    requeues = [e["detail"] for e in cluster.events(job=job["id"]) if e["action"] == "requeue"]
    assert requeues == ["out of memory at 32 MB: requeued with 64 MB (retry 1 of 2, 2x)",
                        "out of memory at 64 MB: requeued with 128 MB (retry 2 of 2, 4x)"]
    assert done["runs"] == 3


def test_a_jobs_own_retry_memory_wins_over_the_controllers_setting(live):
    cluster = live()  # the controller retries nothing
    cluster.start_controller()
    cluster.start_agent("n1", "1", "cgroup")
    needs_45mb = HOG.replace("256", "45")  # with the interpreter: over 32 MB, under 64 MB (2x)
    job = cluster.submit([sys.executable, "-c", needs_45mb], memory_mb=32, retry_memory="2x")
    assert job["retry_memory"] == "2x"
    done = cluster.wait_state(job["id"], "succeeded", "failed", timeout=90)
    assert done["state"] == "succeeded" and done["memory_mb"] == 64 and done["runs"] == 2, done
    requeues = [e["detail"] for e in cluster.events(job=job["id"]) if e["action"] == "requeue"]
    assert requeues == ["out of memory at 32 MB: requeued with 64 MB (retry 1 of 1, 2x)"]
