"""The original controller's wire protocol at the root, byte-compatible."""
import json
import threading
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original_agent.py"


@pytest.fixture
def sleeper():
    procs = []

    def start() -> subprocess.Popen:
        procs.append(subprocess.Popen(["sleep", "60"]))
        return procs[-1]

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_original_agent_is_driven_through_allocate_release_and_status(live, tmp_path, sleeper):
    cluster = live()
    cluster.start_controller()
    calls = tmp_path / "calls.jsonl"
    agent = subprocess.Popen([sys.executable, str(FIXTURE), str(calls), "4"], stdout=subprocess.PIPE, text=True)
    try:
        endpoint = f"http://127.0.0.1:{agent.stdout.readline().strip()}"
        register = {"vm_name": "vm1", "endpoint": endpoint, "total_cores": 2, "core_offset": 4}
        assert cluster.http.post("/register", json=register).json() == {"ok": True}
        proc = sleeper()
        answer = cluster.http.post("/request", json={"vm": "vm1", "job": "train", "pid": proc.pid, "cores_requested": 1})
        assert answer.json() == {"status": "allocated", "cores": [4]}
        wait_for(lambda: calls.exists() and calls.read_text().strip(), what="the agent to be called")
        assert json.loads(calls.read_text().splitlines()[0]) == {
            "path": "/allocate", "body": {"job": "train", "pid": proc.pid, "cores": [4]}}
        assert cpus_allowed(proc.pid) == "0"  # global 4 is vm1's first CPU

        queued = cluster.http.post("/request", json={"vm": "vm1", "job": "big", "pid": proc.pid, "cores_requested": 2})
        assert queued.json() == {"status": "queued"}
        summary = cluster.http.get("/summary").json()
        assert {"agents", "core_map", "allocations", "pending", "activity", "live_jobs"} <= set(summary)
        assert summary["agents"]["vm1"] == {"total_cores": 2, "offset": 4, "endpoint": endpoint, "state": "up", "kind": "legacy"}
        assert summary["core_map"] == {"4": ["vm1", "train"], "5": None}
        assert summary["allocations"] == {"vm1|train": [4]}
        assert [(p["vm"], p["job"], p["need"]) for p in summary["pending"]] == [("vm1", "big", 2)]
        assert summary["activity"][0].startswith("[") and len(summary["activity"]) <= 200
        wait_for(lambda: cluster.http.get("/summary").json()["live_jobs"]["vm1"][0]["cpu_percent"] == 12.5,
                 what="usage polled from the agent's /status")

        done = cluster.http.post("/complete", json={"vm": "vm1", "job": "train", "pid": proc.pid})
        assert done.json() == {"ok": True, "freed": [4]}
        assert cluster.http.post("/complete", json={"vm": "vm1", "job": "train"}).json() == {"ok": True, "freed": []}
        released = wait_for(lambda: [c for c in map(json.loads, calls.read_text().splitlines()) if c["path"] == "/release"],
                            what="the release call")
        assert released[0]["body"] == {"job": "train", "keep_cores": []}
        # The queued request now fits and is allocated and pushed to the agent.
        wait_for(lambda: cluster.http.get("/summary").json()["allocations"].get("vm1|big") == [4, 5], what="the queued job")
        # A /register with only the name is a heartbeat and changes nothing else.
        assert cluster.http.post("/register", json={"vm_name": "vm1"}).json() == {"ok": True}
        assert cluster.http.get("/summary").json()["agents"]["vm1"]["offset"] == 4
        unknown = cluster.http.post("/request", json={"vm": "nope", "job": "x", "pid": 1})
        assert unknown.status_code == 400
        assert unknown.json() == {"status": "error", "error": "unknown_node", "message": "unknown agent", "field": "vm"}
    finally:
        agent.kill()
        agent.wait()


def test_a_running_program_pins_itself_on_a_heaven_agent(live, sleeper):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0-1", "auto")
    proc = sleeper()
    answer = cluster.http.post("/request", json={"vm": "n1", "job": "selfpin", "pid": proc.pid, "cores_requested": 1})
    assert answer.json() == {"status": "allocated", "cores": [0]}
    wait_for(lambda: cpus_allowed(proc.pid) == "0", what="the agent to pin the adopted PID")
    assert cluster.http.post("/complete", json={"vm": "n1", "job": "selfpin"}).json() == {"ok": True, "freed": [0]}
    wait_for(lambda: cpus_allowed(proc.pid) == "0-1", what="the agent to release the PID")
    assert alive(proc.pid)  # an adopted program is released, never killed


def _watch_summary(cluster, pid: int, key: str, stop: threading.Event, seen: list) -> None:
    """Poll /summary as fast as it answers; every time it shows ``key`` allocated,
    the process must already be pinned (the original controller recorded an
    allocation only after the agent's /allocate answered ok)."""
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        while not stop.is_set():
            if key in http.get("/summary").json()["allocations"]:
                seen.append(cpus_allowed(pid))


@pytest.mark.parametrize("agent_flags", [["--slow", "1.5"], ["--refuse-first"], ["--lose-first-answer"]],
                         ids=["slow", "refuses-first", "loses-first-answer"])
def test_summary_never_shows_an_allocation_before_it_is_pinned(live, tmp_path, sleeper, agent_flags):
    cluster = live()
    cluster.start_controller()
    calls = tmp_path / "calls.jsonl"
    agent = subprocess.Popen([sys.executable, str(FIXTURE), str(calls), "4", *agent_flags], stdout=subprocess.PIPE,
                             text=True)
    stop, seen = threading.Event(), []
    try:
        endpoint = f"http://127.0.0.1:{agent.stdout.readline().strip()}"
        register = {"vm_name": "vm1", "endpoint": endpoint, "total_cores": 2, "core_offset": 4}
        assert cluster.http.post("/register", json=register).json() == {"ok": True}
        proc = sleeper()
        watcher = threading.Thread(target=_watch_summary, args=(cluster, proc.pid, "vm1|train", stop, seen))
        watcher.start()
        answer = cluster.http.post("/request", json={"vm": "vm1", "job": "train", "pid": proc.pid, "cores_requested": 1})
        if agent_flags[0] == "--slow":  # pinned within HEAVEN_LEGACY_TIMEOUT: answered only once pinned
            assert answer.json() == {"status": "allocated", "cores": [4]}
            assert cpus_allowed(proc.pid) == "0"
        elif answer.json()["status"] != "allocated":  # pinned on a later status poll
            assert answer.json() == {"status": "queued"}
        wait_for(lambda: cluster.http.get("/summary").json()["allocations"].get("vm1|train") == [4], timeout=20,
                 what="the allocation to show once pinned")
        assert cpus_allowed(proc.pid) == "0"
        assert cluster.job(cluster.http.get("/summary").json()["live_jobs"]["vm1"][0]["id"])["state"] == "running"
    finally:
        stop.set()
        agent.kill()
        agent.wait()
    watcher.join()
    assert seen and set(seen) == {"0"}, f"/summary showed the allocation while the process was on CPUs {set(seen)}"
