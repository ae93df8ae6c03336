"""The dashboard's stream over real HTTP: it checks its token again as it goes, so after
the token is logged out (revoked) the stream ends instead of serving on; after its first
whole view it sends patches of only what changed."""
import json
import time

import httpx
import pytest

from tests.live import LiveCluster

pytestmark = pytest.mark.slow


def test_the_stream_ends_when_its_token_is_logged_out(tmp_path):
    cluster = LiveCluster(tmp_path)
    cluster.start_controller()
    try:
        headers = cluster.auth_headers()
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            with client.stream("GET", "/api/v1/dashboard/stream", headers=headers) as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("event:")) == "event: view"
                assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
                after = list(lines)  # returns only because the server ended the stream
            assert client.get("/api/v1/dashboard", headers=headers).status_code == 401
        assert sum(line.startswith("event: view") for line in after) <= 1  # at most one sent before the check
    finally:
        cluster.stop()


def _messages(lines):
    """(event name, body) of each Server-Sent Event read from ``lines``."""
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: "):]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: "):])


def test_after_one_whole_view_a_submitted_job_arrives_as_a_patch_of_only_its_cell(tmp_path):
    cluster = LiveCluster(tmp_path, node_timeout=3600)
    cluster.start_controller()
    try:
        # A node that registers but runs no agent: what is placed on it stays assigned.
        answer = cluster.http.post("/api/v1/agents/register", json={"name": "n0", "local_cores": [0, 1, 2, 3],
                                                                     "memory_mb": 4096})
        assert answer.status_code == 200, answer.text
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            with client.stream("GET", "/api/v1/dashboard/stream", headers=cluster.auth_headers()) as stream:
                messages = _messages(stream.iter_lines())
                kind, view = next(messages)
                assert kind == "view" and [c["job"] for c in view["cores"]] == [None] * 4
                job = cluster.submit(["sleep", "60"], cores=1)
                patches, deadline = [], time.monotonic() + 30  # keep-alive comments would hold a read open
                for kind, body in messages:
                    assert time.monotonic() < deadline, f"the job's cells never came in {len(patches)} patches"
                    assert kind == "patch"  # the same grid: never the whole view again
                    patches.append(body)
                    if any(c["job"] == job["id"] for c in body.get("cores", [])):
                        break
        cells = [c for p in patches for c in p.get("cores", [])]
        assert [c["job"] for c in cells] == [job["id"]]  # the three cells that did not change were not sent
        assert any(j["id"] == job["id"] for p in patches for j in p.get("running", {}).get("set", []))
        assert all(set(p) <= {"now", "cores", "running", "pending", "pending_count", "totals", "activity", "nodes",
                              "organizations"} for p in patches)
    finally:
        cluster.stop()
