"""The product API of deployments in one controller (its scheduler loop running): what each
refusal answers (status, field, nothing written), dependencies, quotas, and what a node does
with a deployment that is only a container image."""
from __future__ import annotations

import pytest

from tests.control.conftest import register


@pytest.fixture
def api(controller_app):
    client = controller_app()
    assert client.post("/api/v1/clusters", json={"name": "small", "quota_cores": 2}).status_code == 201
    return client


def _make(api, name: str = "svc", expect: int = 201, **fields) -> dict:
    body = {"name": name, "command": ["sleep", "30"], **fields}
    answer = api.post("/api/v1/deployments", json=body)
    assert answer.status_code == expect, answer.text
    return answer.json()


def _act(api, deployment: dict, action: str, expect: int = 200, **params) -> dict:
    answer = api.post(f"/api/v1/deployments/{deployment['id']}/{action}", params=params)
    assert answer.status_code == expect, answer.text
    return answer.json()


def _count(api) -> int:
    return len(api.get("/api/v1/deployments").json())


@pytest.mark.parametrize("body, field", [
    ({"name": "x"}, None),  # neither a command nor an image
    ({"name": "x", "command": ["true"], "priority": 5000}, "priority"),
    ({"name": "x", "command": ["true"], "priority": "urgent"}, "priority"),
    ({"name": "x", "command": ["true"], "cores": 0}, "cores"),
    ({"name": "x", "command": ["true"], "after": [0]}, "after.0"),
    ({"name": "x", "docker_image": "bad image"}, "docker_image"),
    ({"name": "x", "command": ["true"], "nodes": 2}, "nodes"),
])
def test_invalid_requests_are_422_and_write_nothing(api, body, field):
    answer = api.post("/api/v1/deployments", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    assert _count(api) == 0


def test_dependency_rules(api):
    base = _make(api, "base", priority="low", cluster="small")
    missing = _make(api, "x", expect=404, after=[999])
    assert missing["field"] == "after"
    other = _make(api, "x", expect=422, after=[base["id"]])  # default cluster, base is in "small"
    assert other["error"] == "other_cluster"
    higher = _make(api, "x", expect=422, priority="high", cluster="small", after=[base["id"]])
    assert higher["error"] == "lower_priority_dependency" and "pending" in higher["message"]
    assert _count(api) == 1
    child = _make(api, "child", priority="low", cluster="small", after=[base["id"]])
    own = api.put(f"/api/v1/deployments/{base['id']}", json={"after": [base["id"]]})
    assert own.status_code == 422 and own.json()["error"] == "self_dependency"
    loop = api.put(f"/api/v1/deployments/{base['id']}", json={"after": [child["id"]]})
    assert loop.status_code == 422 and loop.json()["error"] == "circular_dependency"
    # raising the dependent above its pending dependency is refused from either side
    raised = api.put(f"/api/v1/deployments/{child['id']}", json={"priority": "high"})
    assert raised.status_code == 422 and raised.json()["field"] == "after"
    lowered = api.put(f"/api/v1/deployments/{base['id']}", json={"priority": -500})
    assert lowered.status_code == 422 and lowered.json()["field"] == "priority"
    assert api.get(f"/api/v1/deployments/{base['id']}").json()["priority"] == -100  # unchanged
    refused = _act(api, child, "start", expect=409)
    assert refused["error"] == "dependencies_not_completed" and refused["field"] == "after"
    assert api.delete(f"/api/v1/deployments/{base['id']}").status_code == 409  # the child waits for it


def test_start_books_the_quota_and_stop_frees_it(api):
    one = _make(api, "one", cluster="small", cores=2)
    two = _make(api, "two", cluster="small", cores=1)
    started = _act(api, one, "start")
    # No node in "small": started and holding its books, but truthfully not running.
    assert (started["status"], started["started"], started["node"]) == ("pending", True, None)
    full = _act(api, two, "start", expect=409)
    assert full["field"] == "cores" and "0 of its 2 cores free" in full["message"]
    assert _act(api, one, "stop", expect=409)["error"] == "not_running"  # not on a node: cancel it instead
    assert _act(api, one, "cancel")["status"] == "cancelled"
    assert _act(api, two, "start")["started"] is True
    assert api.put(f"/api/v1/deployments/{two['id']}", json={"cores": 1}).status_code == 409  # started


def test_a_deployment_on_a_node_runs_and_stop_frees_its_cores(api):
    register(api, "n1", 2)
    svc = _make(api, "web")
    running = _act(api, svc, "start")  # the start's own cycle places it
    assert (running["status"], running["node"]) == ("running", "n1")
    assert api.get("/api/v1/nodes/n1").json()["free_cores"] == 1
    stopped = _act(api, svc, "stop")
    assert stopped["status"] == "completed" and stopped["node"] is None
    assert api.get("/api/v1/nodes/n1").json()["free_cores"] == 2
    assert _act(api, svc, "start", expect=409)["field"] == "id"


def test_an_image_goes_to_the_agent_and_its_refusal_is_the_reason(api):
    """The node's agent decides whether it can run an image (it has an engine, the image is
    there): its assignment names the image, and why it could not start becomes the reason."""
    register(api, "n1", 2)
    image = _make(api, "model", command=None, docker_image="registry.local/model:1")
    placed = _act(api, image, "start")
    assert placed["status"] in ("assigned", "running"), placed
    listed = api.get("/api/v1/agents/n1/assignments", params={"wait": 0}).json()["jobs"]
    assert [(j["id"], j["image"], j["command"]) for j in listed] == [(image["id"], "registry.local/model:1", [])]
    why = "container image registry.local/model:1 is not on this node; images are never pulled"
    report = {"failed_to_start": [{"job": image["id"], "run": listed[0]["run"], "exit_code": 127, "cause": why}]}
    assert api.post("/api/v1/agents/n1/report", json=report).status_code == 200
    failed = api.get(f"/api/v1/deployments/{image['id']}").json()
    assert failed["status"] == "failed" and failed["reason"] == why
    assert api.get("/api/v1/nodes/n1").json()["free_cores"] == 2


def test_stop_as_failed_and_delete(api):
    register(api, "n1", 2)
    svc = _make(api, "web")
    _act(api, svc, "start")
    assert _act(api, svc, "stop", expect=422, status="paused")["field"] == "status"
    assert _act(api, svc, "stop", status="failed")["status"] == "failed"
    assert api.delete(f"/api/v1/deployments/{svc['id']}").status_code == 204
    assert api.get(f"/api/v1/deployments/{svc['id']}").status_code == 404
    assert api.delete(f"/api/v1/deployments/{svc['id']}").status_code == 404


def test_an_update_refuses_an_empty_program_and_changes_nothing(api):
    made = _make(api)
    answer = api.put(f"/api/v1/deployments/{made['id']}", json={"command": [""]})
    assert answer.status_code == 422 and answer.json()["field"] == "command", answer.text
    assert api.get(f"/api/v1/deployments/{made['id']}").json()["command"] == ["sleep", "30"]
