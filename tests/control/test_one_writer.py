"""Scheduling decisions have one writer: the scheduler loop.

Requests that want an answer now (``--no-wait``) ask the loop; a refusal rolls
back only what the request wrote and never moves the controller's memory of
the queue.
"""
from __future__ import annotations

import time

from tests.control.conftest import register
from tests.live import wait_for


def _submit(client, **fields) -> dict:
    answer = client.post("/api/v1/jobs", json={"command": ["true"], **fields})
    assert answer.status_code in (201, 409), answer.text
    return answer.json()


def _state(client, job_id: int) -> str:
    return client.get(f"/api/v1/jobs/{job_id}").json()["state"]


def test_a_refused_no_wait_submission_keeps_fifo(controller_app):
    """Regression: the refused submission's id is reused by SQLite; the next job
    must still be seen by the next cycle (it once waited while a later job ran)."""
    client = controller_app()
    register(client, "n1", 2)
    first = _submit(client)
    wait_for(lambda: _state(client, first["id"]) != "pending", what="the first job to be placed")
    refused = client.post("/api/v1/jobs", json={"command": ["true"], "cores": 2, "no_wait": True})
    assert refused.status_code == 409, refused.text
    b = _submit(client)
    c = _submit(client)
    assert b["id"] < c["id"]
    wait_for(lambda: _state(client, b["id"]) != "pending" or _state(client, c["id"]) != "pending",
             what="a job to take the free core")
    time.sleep(0.2)  # let a wrongly ordered cycle show itself
    assert _state(client, b["id"]) != "pending", "the older job waits while a core is free"
    assert _state(client, c["id"]) == "pending"


def test_no_wait_starts_or_leaves_nothing(controller_app):
    client = controller_app()
    register(client, "n1", 1)
    placed = client.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True})
    assert placed.status_code == 201, placed.text
    assert placed.json()["state"] == "assigned"
    before = client.get("/api/v1/jobs").json(), client.get("/api/v1/events").json()
    refused = client.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True})
    assert refused.status_code == 409
    assert refused.json()["field"] == "cores"
    assert (client.get("/api/v1/jobs").json(), client.get("/api/v1/events").json()) == before


def test_concurrent_repeats_of_one_original_request_make_one_job(controller_app):
    """The original /request checks for the program's job and inserts it in one decision."""
    from concurrent.futures import ThreadPoolExecutor

    client = controller_app(legacy_timeout=0.3)
    register(client, "n1", 1)
    body = {"vm": "n1", "job": "train", "pid": 4321, "cores_requested": 1}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post("/request", json=body).json(), range(4)))
    assert all(a == {"status": "queued"} for a in answers)  # placed, but no agent pins it here
    adopted = [j for j in client.get("/api/v1/jobs").json() if j["kind"] == "adopted"]
    assert len(adopted) == 1 and adopted[0]["state"] == "assigned"
