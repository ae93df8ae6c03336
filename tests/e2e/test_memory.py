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
