"""``heaven up`` and ``heaven controller`` as real processes: Ctrl-C or SIGTERM stops them
promptly, quietly, says what was stopped, and the agents stop their jobs.

The bound checked is generous (the target is under 2 s); the measured time is printed.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.live import LAUNCH, alive, free_port, wait_for

pytestmark = pytest.mark.slow
BOUND = 5.0  # seconds


def _start(args: list[str], cwd) -> subprocess.Popen:
    # A new session: the signal goes to the launcher alone, as a kill(1) would send it.
    return subprocess.Popen([*LAUNCH, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen, sig: signal.Signals) -> tuple[float, str]:
    began = time.monotonic()
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"still running {BOUND} s after {sig.name}:\n{output.decode()[-3000:]}") from None
    elapsed = time.monotonic() - began
    print(f"stopped by {sig.name} in {elapsed:.2f} s")
    return elapsed, output.decode()


def _nodes_up(http: httpx.Client, count: int) -> bool:
    try:
        return sum(n["state"] == "up" for n in http.get("/api/v1/nodes").json()) == count
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_heaven_up_stops_quickly_and_quietly_with_its_jobs(tmp_path, sig):
    port = free_port()
    proc = _start(["up", "--agents", "2", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'heaven.db'}"],
                  tmp_path)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        wait_for(lambda: _nodes_up(http, 2), 40, what="two agents to register")
        job = http.post("/api/v1/jobs", json={"command": ["sleep", "300"]}).json()
        pid = wait_for(lambda: http.get(f"/api/v1/jobs/{job['id']}").json()["pid"], 20, what="the job to start")
        time.sleep(0.5)  # the agents are back in their long-polls
    elapsed, output = _stop(proc, sig)
    assert "Traceback" not in output, output
    assert "stopped controller, 2 agents" in output, output
    assert proc.returncode == 0, output
    assert not alive(pid), "the agent left its job running"
    assert elapsed < BOUND


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_heaven_controller_stops_quickly_and_quietly_during_a_long_poll(tmp_path, sig):
    port = free_port()
    proc = _start(["controller", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'heaven.db'}"], tmp_path)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        wait_for(lambda: _nodes_up(http, 0), 30, what="the controller to answer")
        assert http.post("/api/v1/agents/register", json={"name": "n1", "local_cores": [0]}).status_code == 200
        generation = http.get("/api/v1/agents/n1/assignments").json()["generation"]
        polls = []  # an agent's long-poll, held open when the signal comes

        def poll():
            try:
                polls.append(http.get("/api/v1/agents/n1/assignments", params={"generation": generation, "wait": 25}))
            except httpx.HTTPError as exc:
                polls.append(exc)
        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        elapsed, output = _stop(proc, sig)
        poller.join(BOUND)
    assert "Traceback" not in output, output
    assert "stopped controller" in output, output
    assert proc.returncode == 0, output
    assert elapsed < BOUND
