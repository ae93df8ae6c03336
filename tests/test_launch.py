"""``heaven up`` and ``heaven controller`` as real processes: Ctrl-C or SIGTERM stops them
promptly, quietly, says what was stopped, and the agents stop their jobs.

The bound checked is generous (the target is under 2 s); the measured time is printed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest

from heaven.control.bootstrap import local_agents_join_token
from heaven.store.engine import Store
from tests.identity import Identity
from tests.live import LAUNCH, alive, free_port, wait_for

pytestmark = pytest.mark.slow
BOUND = 5.0  # seconds


def _start(args: list[str], cwd, **env_vars: str) -> subprocess.Popen:
    # A new session: the signal goes to the launcher alone, as a kill(1) would send it. The
    # credentials heaven up writes go to a config directory of the test's own.
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "config"), **env_vars}
    return subprocess.Popen([*LAUNCH, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)


def _stored_token(cwd, url: str) -> str:
    """The API token heaven up kept for ``url`` where the CLI looks."""
    return json.loads((cwd / "config" / "heaven" / "credentials.json").read_text())[url]["token"]


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


def _join_token(database: str) -> str:
    """What the agent in a test without ``heaven up`` registers with (as heaven up's agents do)."""
    store = Store(database)
    try:
        store.migrate()
        return local_agents_join_token(store, time.time())
    finally:
        store.dispose()


def _nodes_up(http: httpx.Client, count: int) -> bool:
    """Read from the original protocol's /summary (served on loopback without credentials):
    the node routes need a person, and some of these tests have none yet."""
    try:
        return sum(a["state"] == "up" for a in http.get("/summary").json()["agents"].values()) == count
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_heaven_up_stops_quickly_and_quietly_with_its_jobs(tmp_path, sig):
    port, gateway_port = free_port(), free_port()
    proc = _start(["up", "--agents", "2", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'heaven.db'}",
                   "--gateway-port", str(gateway_port)], tmp_path,
                  # The gateway's workers run this test's interpreter, which lives where the
                  # unprivileged account jobs run as by default cannot read it.
                  HEAVEN_RUN_AS="root")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_for(lambda: _nodes_up(http, 2), 40, what="two agents to register")
            http.headers["Authorization"] = f"Bearer {_stored_token(tmp_path, str(http.base_url).rstrip('/'))}"
            job = http.post("/api/v1/jobs", json={"command": ["sleep", "300"]}).json()
            pid = wait_for(lambda: http.get(f"/api/v1/jobs/{job['id']}").json()["pid"], 20, what="the job to start")
            # heaven up's gateway has its initial worker, a deployment on the other core, and answers a call
            with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=60) as gateway:
                wait_for(lambda: _gateway_workers(gateway) == 1, 40, what="the gateway's first worker")
                call = gateway.post("/submit", json={"operation": "monte_carlo_pi", "data": {"iterations": 1000}})
                assert call.status_code == 200 and call.json()["worker_id"].startswith("Worker-Core-"), call.text
                deployment = gateway.get("/status").json()["workers"][0]["container_id"]
            worker = http.get(f"/api/v1/jobs/{deployment}").json()
            time.sleep(0.5)  # the agents are back in their long-polls
    except BaseException:
        proc.terminate()  # heaven up stops its components on SIGTERM; nothing is left running
        proc.communicate(timeout=30)
        raise
    elapsed, output = _stop(proc, sig)
    assert "Traceback" not in output, output
    assert "stopped gateway" in output and "stopped controller, 2 agents" in output, output
    assert proc.returncode == 0, output
    assert not alive(pid), "the agent left its job running"
    assert not alive(worker["pid"]), "the gateway's worker was left running"
    assert elapsed < BOUND


def _gateway_workers(gateway: httpx.Client) -> int:
    try:
        return gateway.get("/status").json()["worker_count"]
    except httpx.HTTPError:
        return -1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_heaven_controller_stops_quickly_and_quietly_during_a_long_poll(tmp_path, sig):
    port = free_port()
    database = f"sqlite:///{tmp_path / 'heaven.db'}"
    proc = _start(["controller", "--port", str(port), "--database", database], tmp_path)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, auth=Identity(join_token=_join_token(database))) as http:
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


def _cli(cwd, url: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a newcomer runs it: no token, no login, only the URL of this test's controller."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "config"), "HEAVEN_URL": url}
    env.pop("HEAVEN_TOKEN", None)
    return subprocess.run([*LAUNCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_heaven_up_signs_the_local_cli_in_as_admin_and_reuses_it(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["up", "--agents", "2", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'heaven.db'}",
            "--gateway-port", "0"]  # no gateway: never the fixed port 3000 in a test
    first = _start(args, tmp_path)
    with httpx.Client(base_url=url, timeout=10) as http:
        wait_for(lambda: _nodes_up(http, 2), 40, what="two agents to register")
    submitted = _cli(tmp_path, url, "submit", "--", "true")
    assert submitted.returncode == 0, submitted.stderr
    job_id = int(submitted.stdout)
    whoami = _cli(tmp_path, url, "whoami", "--json")
    assert whoami.returncode == 0 and json.loads(whoami.stdout)["username"] == "admin", whoami.stderr
    token = _stored_token(tmp_path, url)
    _, output = _stop(first, signal.SIGTERM)
    assert f"Made administrator admin (owner of organization default); its API token for {url} is in " \
           f"{tmp_path / 'config' / 'heaven' / 'credentials.json'}" in output, output
    assert token not in output  # the secret stays in the 0600 file
    mode = (tmp_path / "config" / "heaven" / "credentials.json").stat().st_mode & 0o777
    assert mode == 0o600

    second = _start(args, tmp_path)
    with httpx.Client(base_url=url, timeout=10) as http:
        wait_for(lambda: _nodes_up(http, 2), 40, what="two agents to register again")
    shown = _cli(tmp_path, url, "show", str(job_id), "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["owner_id"] is not None, shown.stderr
    _, output = _stop(second, signal.SIGTERM)
    assert f"Signed in as before: the token for {url}" in output, output
    assert _stored_token(tmp_path, url) == token
