"""The OpenAPI document says what the routes answer: each answer found to differ from it by
the long schemathesis run (bench/bench_schema.py, docs/api-conformance.md) has a case here."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.control.conftest import register


@pytest.fixture
def api(controller_app):
    client = controller_app()
    register(client, "n1", 2)  # no endpoint: no agent API to fetch logs from
    return client


def _operations(spec: dict):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_answer_is_documented_as_json(api):
    """Routes whose 200 is text (job logs) documented their errors as text too; they are JSON."""
    spec = api.get("/openapi.json").json()
    wrong = {(label, status): sorted(answer["content"]) for label, operation in _operations(spec)
             for status, answer in operation["responses"].items()
             if status[0] in "45" and set(answer.get("content", {})) != {"application/json"}}
    assert not wrong, wrong
    logs = spec["paths"]["/api/v1/jobs/{job_id}/logs"]["get"]["responses"]
    assert logs["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_the_logs_route_answers_its_errors_as_documented(api):
    job = api.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True}).json()
    answer = api.get(f"/api/v1/jobs/{job['id']}/logs")
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/json"
    assert answer.json()["field"] == "node"


def test_root_deployment_timestamps_are_documented_as_the_naive_utc_they_are(api):
    """That service's timestamps carry no offset, so they are not RFC 3339 date-times: the
    document said ``format: date-time``, and every answer broke it."""
    cluster = api.post("/api/v1/clusters", json={"name": "c1", "quota_cores": 2})
    assert cluster.status_code == 201, cluster.text
    made = api.post("/deployments/", json={"name": "web", "docker_image": "web:1", "cluster_id": cluster.json()["id"]})
    assert made.status_code == 200, made.text
    created = datetime.fromisoformat(made.json()["created_at"])
    assert created.tzinfo is None and made.json()["started_at"] is None
    fields = api.get("/openapi.json").json()["components"]["schemas"]["RootDeploymentOut"]["properties"]
    assert fields["created_at"] == {"type": "string", "title": "Created At"}
    assert "date-time" not in str(fields["started_at"])
