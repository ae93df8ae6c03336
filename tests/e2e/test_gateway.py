"""The gateway end to end: a real controller, real agents of one core each, workers that are
real deployments pinned to their cores, calls over real HTTP.

One gateway (MAX_CPU_THRESHOLD 15 so that two small calls cannot share a worker, a cool-down
of 2 s) answers as the container orchestrator did, spawns a second worker when its first has
no room, retires it once idle, and says why each time; a second gateway, when every core is
taken, answers that no core can be had; and `heaven gateway` refuses a bad token plainly.
"""
from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from heaven.launch import app
from tests.live import alive, cpus_allowed, wait_for

pytestmark = pytest.mark.slow


def submit(gateway, iterations):
    return gateway.post("/submit", json={"operation": "monte_carlo_pi", "data": {"iterations": iterations}})


def test_gateway_routes_spawns_retires_and_answers_like_the_orchestrator(live):
    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0")
    cluster.start_agent("n2", "1")
    gateway = cluster.start_gateway(MAX_CPU_THRESHOLD="15", HEAVEN_GATEWAY_COOLDOWN="2")

    status = gateway.get("/status").json()
    assert status["status"] == "running" and status["worker_count"] == 1
    (first,) = status["workers"]
    assert set(first) == {"core_id", "container_id", "host_port", "cpu_usage", "is_healthy"}
    assert re.fullmatch(r"\d+\.\d%", first["cpu_usage"]) and first["is_healthy"] is True
    job = cluster.job(int(first["container_id"]))
    assert job["kind"] == "service" and job["cores"] == [first["core_id"]]
    assert cpus_allowed(job["pid"]) == str(job["local_cores"][0])  # the worker runs pinned to its core

    answer = submit(gateway, 1_000_000)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"job_id", "worker_id", "result", "time_taken"}
    assert re.fullmatch(r"JOB-\w+", body["job_id"]) and body["worker_id"] == f"Worker-Core-{first['core_id']}"
    assert isinstance(body["result"], float) and abs(body["result"] - math.pi) < 0.02
    assert re.fullmatch(r"\d+\.\d\ds", body["time_taken"])

    # Two calls at once, each above 15 % by the estimate: the second finds no room and a worker is
    # spawned. (Which worker the second runs on depends on which is free first: the first worker
    # again if its call ended before the new one answered.)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: submit(gateway, 20_000_000), range(2)))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert {a.json()["worker_id"] for a in answers} <= {"Worker-Core-0", "Worker-Core-1"}
    metrics = gateway.get("/metrics").json()
    spawns = [e for e in metrics["scaling"] if e["action"] == "spawn"]
    assert len(spawns) == 2, spawns
    assert spawns[0]["reason"] == "initial worker 1 of INITIAL_WORKERS 1"
    assert spawns[1]["reason"].startswith("no worker has room for") and "under 15%" in spawns[1]["reason"]
    assert metrics["estimator"]["monte_carlo_pi"]["runs"] == 3
    assert metrics["estimator"]["monte_carlo_pi"]["last_error_pct"] is not None

    # Idle for the cool-down, the extra worker is retired: its deployment stopped, its process gone.
    retired = wait_for(lambda: [e for e in gateway.get("/metrics").json()["scaling"] if e["action"] == "retire"],
                       30, 0.2, what="an idle worker to be retired")
    assert re.match(r"idle for \d+ s \(cool-down 2 s\)", retired[0]["reason"]), retired
    assert gateway.get("/status").json()["worker_count"] == 1
    gone = [d for d in cluster.http.get("/api/v1/deployments").json() if d["status"] == "completed"]
    assert len(gone) == 1
    wait_for(lambda: not alive(cluster.job(gone[0]["id"])["pid"] or 0), 15, what="the retired worker's process to end")

    # Bad input: the project's error shape, never a 500.
    for content, field in [(b"{not json", None), (b'{"data": {}}', "operation"),
                           (b'{"operation": "monte_carlo_pi", "data": {"iterations": 0}}', "data.iterations"),
                           (b'{"operation": "nope"}', "operation")]:
        refused = gateway.post("/submit", content=content)
        assert refused.status_code == 400, refused.text
        assert set(refused.json()) == {"error", "message", "field"} and refused.json()["field"] == field
    assert gateway.get("/submit").status_code == 405 and gateway.get("/submit").json()["error"] == "method_not_allowed"
    assert gateway.post("/status").status_code == 405
    health = gateway.get("/health")
    assert health.text == "OK" and health.headers["content-type"].startswith("text/plain")

    # Every core taken (the remaining one by a batch job): a gateway without workers cannot have one.
    cluster.wait_pid(cluster.submit(["sleep", "300"], cores=1)["id"])
    # (Another name: a gateway of the first one's name would adopt its worker.)
    starved = cluster.start_gateway(workers=0, INITIAL_WORKERS="0", HEAVEN_GATEWAY_NAME="starved")
    refused = submit(starved, 1000)
    assert refused.status_code == 503 and refused.json()["error"] == "no_core"
    assert "no core can be had" in refused.json()["message"]

    # kill -9 of the first gateway leaves its worker running; a new gateway of its name adopts
    # that worker (same deployment, same process) instead of asking for a core, and serves on it.
    (kept,) = gateway.get("/status").json()["workers"]
    kept_pid = cluster.job(int(kept["container_id"]))["pid"]
    cluster.gateways[0].kill()
    cluster.gateways[0].wait(10)
    heir = cluster.start_gateway(workers=1, MAX_CPU_THRESHOLD="15")
    (adopted,) = heir.get("/status").json()["workers"]
    assert adopted["container_id"] == kept["container_id"] and cluster.job(int(kept["container_id"]))["pid"] == kept_pid
    scaling = heir.get("/metrics").json()["scaling"]
    assert [e["action"] for e in scaling] == ["adopt"], scaling
    assert "left running by an earlier gateway" in scaling[0]["reason"]
    answer = submit(heir, 1_000_000)
    assert answer.status_code == 200, answer.text
    assert answer.json()["worker_id"] == f"Worker-Core-{kept['core_id']}"

    # `heaven gateway` with a token the controller refuses says so and stops, without a traceback.
    refused = CliRunner().invoke(app, ["gateway", "--port", "0", "--controller", cluster.url, "--token", "wrong"])
    assert refused.exit_code == 2, refused.output
    assert not isinstance(refused.exception, Exception)  # a clean exit (SystemExit), not a crash
    assert "error:" in refused.output and "Traceback" not in refused.output
