"""A job that outlives its walltime is stopped: SIGTERM, then SIGKILL after the grace."""
import time

import pytest

from tests.live import NOT_TRANSITIONS, alive, wait_for

pytestmark = pytest.mark.slow


def test_walltime_stops_the_job_with_term_then_kill(live):
    cluster = live(agent_stop_grace=1)
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "affinity")
    polite = cluster.submit(["sleep", "60"], walltime=1)
    stubborn = cluster.submit(["sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60"], walltime=1)
    pids = {j["id"]: cluster.wait_pid(j["id"])["pid"] for j in (polite, stubborn)}
    started = time.monotonic()
    for job in (polite, stubborn):
        ended = cluster.wait_state(job["id"], "failed", timeout=10)
        assert ended["reason"] == "walltime exceeded"
        assert ended["finished_at"] - ended["started_at"] >= 1
    for pid in pids.values():
        wait_for(lambda: not alive(pid), 10, what="the overdue process to be gone")
    assert time.monotonic() - started < 10
    actions = [e["action"] for e in cluster.events(job=stubborn["id"]) if e["action"] not in NOT_TRANSITIONS]
    assert actions == ["submit", "assign", "start", "fail"]
