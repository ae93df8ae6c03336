"""Bad input anywhere gets a 4xx with {"error", "message", "field"} and changes nothing."""
import pytest
from fastapi.testclient import TestClient

from heaven.config import ControllerSettings
from heaven.control.app import create_app
from tests.control.conftest import sign_in_as_admin

GOOD_AGENT = {"name": "n1", "local_cores": [0, 1], "memory_mb": 1000}

BAD = [
    # (method, path, body, status, field, words that must appear in the message)
    ("POST", "/api/v1/jobs", {}, 422, "command", ["required"]),
    ("POST", "/api/v1/jobs", {"command": []}, 422, "command", ["at least 1"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "cores": 0}, 422, "cores", ["greater than or equal to 1"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "cores": 5000}, 422, "cores", ["4096"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "cores": "two"}, 422, "cores", ["integer"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "cores": 1, "min_cores": 2}, 422, None, ["min_cores (2) must not exceed cores (1)"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "memory_mb": -1}, 422, "memory_mb", ["greater than or equal to 0"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "cores": 3}, 422, "cores", ["cores=3", "largest node has 2"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "memory_mb": 5000}, 422, "memory_mb", ["memory_mb=5000", "1000"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "node": "ghost"}, 404, "node", ["ghost"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "colour": "red"}, 422, "colour", ["not a known field"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "priority": 10**6}, 422, "priority", ["1000"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "walltime": 0}, 422, "walltime", ["greater than 0"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "retry_memory": "double"}, 422, "retry_memory", ["2x,4x", "double"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "retry_memory": "0.5x"}, 422, "retry_memory", ["above 1x", "0.5x"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "retry_memory": "4x,2x"}, 422, "retry_memory", ["step before", "2x after 4x"]),
    ("POST", "/api/v1/jobs", {"command": [""]}, 422, None, ["command[0]"]),
    ("GET", "/api/v1/jobs/999", None, 404, "job", ["999"]),
    ("GET", "/api/v1/jobs/abc", None, 422, "job_id", ["integer"]),
    ("GET", "/api/v1/jobs?state=sleeping", None, 422, "state", ["pending"]),
    ("POST", "/api/v1/jobs/999/cancel", None, 404, "job", ["999"]),
    ("GET", "/api/v1/events?after=-1", None, 422, "after", ["greater than or equal to 0"]),
    ("POST", "/api/v1/agents/register", {"name": "bad name!", "local_cores": [0]}, 422, "name", ["pattern"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": []}, 422, "local_cores", ["at least 1"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [0, 0]}, 422, "local_cores", ["repeat"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [0], "core_offset": 1}, 409, "core_offset", ["overlap"]),
    ("POST", "/api/v1/agents/register", {"name": "n1", "local_cores": [0, 1], "core_offset": 7}, 409, "core_offset", ["already has"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1}]}, 422, "exits.0.run", ["required"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [0], "disconnect_grace": -1}, 422,
     "disconnect_grace", ["greater than or equal to 0"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [0], "disconnect_grace": 1e9}, 422,
     "disconnect_grace", ["less than or equal to"]),
    # An agent call is about one node and carries its credential: a node with none is refused first.
    ("POST", "/api/v1/agents/ghost/report", {}, 401, "Authorization", ["node credential"]),
    ("POST", "/register", {"vm_name": "vm2"}, 422, "total_cores", ["required"]),
    ("POST", "/register", {"vm_name": "vm2", "total_cores": 0}, 422, "total_cores", ["greater than or equal to 1"]),
    ("POST", "/request", {"vm": "n1", "job": "j"}, 422, "pid", ["required"]),
    ("POST", "/request", {"vm": "n1", "job": "j", "pid": 5, "cores_requested": 3}, 422, "cores", ["largest node has 2"]),
    ("POST", "/complete", {"vm": "n1"}, 422, "job", ["required"]),
    ("POST", "/complete", {"vm": "n1", "job": "never"}, 400, "job", ["not allocated"]),
    # Integers beyond what the store's INTEGER columns hold: a 422 naming the limit, not an overflow.
    ("GET", "/api/v1/events?after=9999999999999999999", None, 422, "after", ["2147483647"]),
    ("GET", "/api/v1/events?job=9999999999999999999", None, 422, "job", ["2147483647"]),
    ("GET", "/api/v1/events?limit=10001", None, 422, "limit", ["10000"]),
    ("GET", "/api/v1/jobs/9999999999999999999", None, 422, "job_id", ["2147483647"]),
    ("GET", "/api/v1/jobs/0", None, 422, "job_id", ["greater than or equal to 1"]),
    ("POST", "/api/v1/jobs/9999999999999999999/cancel", None, 422, "job_id", ["2147483647"]),
    ("GET", "/api/v1/jobs/9999999999999999999/logs", None, 422, "job_id", ["2147483647"]),
    ("GET", "/api/v1/jobs/1/logs?offset=99999999999999999999", None, 422, "offset", ["9223372036854775807"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "after": [9999999999999999999]}, 422, "after.0", ["2147483647"]),
    ("POST", "/api/v1/jobs", {"command": ["true"], "after_any": [0]}, 422, "after_any.0", ["greater than or equal to 1"]),
    ("GET", "/api/v1/agents/n1/assignments?generation=99999999999999999999", None, 422, "generation", ["9223372036854775807"]),
    ("GET", "/api/v1/agents/n1/assignments?wait=31", None, 422, "wait", ["30"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [2219506282]}, 422, "local_cores.0", ["8191"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "local_cores": [0], "reserved": [-1]}, 422, "reserved.0", ["greater than or equal to 0"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 9999999999999999999, "run": 1, "exit_code": 0}]}, 422, "exits.0.job", ["2147483647"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1, "run": 2**40, "exit_code": 0}]}, 422, "exits.0.run", ["2147483647"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1, "run": 1, "exit_code": 2**40}]}, 422, "exits.0.exit_code", ["255"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1, "run": 1, "exit_code": 0, "cpu_seconds": -0.5}]}, 422, "exits.0.cpu_seconds", ["greater than or equal to 0"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1, "run": 1, "exit_code": 0, "cpu_seconds": 1e15}]}, 422, "exits.0.cpu_seconds", ["less than or equal to"]),
    ("POST", "/api/v1/agents/n1/report", {"exits": [{"job": 1, "run": 1, "exit_code": 0, "peak_memory_mb": -1}]}, 422, "exits.0.peak_memory_mb", ["greater than or equal to 0"]),
    ("POST", "/api/v1/agents/n1/report", {"started": [{"job": 1, "run": 1, "pid": 2**40}]}, 422, "started.0.pid", ["4194304"]),
    ("POST", "/api/v1/agents/n1/report", {"jobs": {"1": {"cpu_percent": 1, "rss_mb": 1, "pids": [2**40]}}}, 422, "jobs.1.pids.0", ["4194304"]),
    ("POST", "/api/v1/agents/n1/report", {"jobs": {str(2**40): {"cpu_percent": 1, "rss_mb": 1}}}, 422, f"jobs.{2**40}.[key]", ["2147483647"]),
    ("POST", "/api/v1/agents/n1/report", {"jobs": {"1": {"cpu_percent": 1, "wait_percent": -1, "rss_mb": 1}}}, 422, "jobs.1.wait_percent", ["greater than or equal to 0"]),
    ("POST", "/request", {"vm": "n1", "job": "j", "pid": 9999999999999999999}, 422, "pid", ["4194304"]),
    ("POST", "/complete", {"vm": "n1", "job": "j", "pid": 9999999999999999999}, 422, "pid", ["4194304"]),
    ("POST", "/api/v1/clusters", {"name": "c" * 101}, 422, "name", ["100"]),
    ("POST", "/api/v1/clusters", {"name": "c", "quota_cores": -1}, 422, "quota_cores", ["0"]),
    ("POST", "/api/v1/clusters", {"name": "c", "quota_memory_mb": 2**31}, 422, "quota_memory_mb", ["2147483647"]),
    ("PATCH", "/api/v1/clusters/1", {"quota_gpus": 10**6}, 422, "quota_gpus", ["100000"]),
    ("POST", "/clusters/", {"name": "c", "total_ram": 1, "total_cpu": -1, "organization_id": 1}, 422, "total_cpu", ["0"]),
    ("POST", "/clusters/", {"name": "c", "total_ram": 1, "total_cpu": 1, "organization_id": 2**31}, 422,
     "organization_id", ["2147483647"]),
    ("POST", "/register", {"username": "x", "email": "x@example.org", "password": "long enough"}, 422, "username", ["3"]),
    # Endpoints are URLs the controller calls: refused unless http(s)://host[:port].
    ("POST", "/api/v1/agents/register", {"name": "n2", "endpoint": "0", "local_cores": [0]}, 422, "endpoint", ["http://host:port"]),
    ("POST", "/api/v1/agents/register", {"name": "n2", "endpoint": "http://h:1/x?y", "local_cores": [0]}, 422, "endpoint", ["path"]),
    ("POST", "/register", {"vm_name": "vm2", "endpoint": "0", "total_cores": 1}, 422, "endpoint", ["http://host:port"]),
    ("POST", "/register", {"vm_name": "vm2", "endpoint": "ftp://h:1", "total_cores": 1}, 422, "endpoint", ["http"]),
]


@pytest.fixture
def api(tmp_path):
    app = create_app(ControllerSettings(database_url=f"sqlite:///{tmp_path / 'heaven.db'}", scheduler_interval=60))
    with TestClient(app) as client:
        sign_in_as_admin(client)
        assert client.post("/api/v1/agents/register", json=GOOD_AGENT).status_code == 200
        yield client


def _state(client) -> tuple:
    return (client.get("/api/v1/jobs").json(), client.get("/api/v1/events").json(), client.get("/api/v1/nodes").json())


@pytest.mark.parametrize("method,path,body,status,field,words", BAD, ids=[f"{m} {p} {b}" for m, p, b, *_ in BAD])
def test_bad_input_is_refused_clearly_and_changes_nothing(api, method, path, body, status, field, words):
    before = _state(api)
    answer = api.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert {"error", "message", "field"} <= set(error)
    assert error["field"] == field
    for word in words:
        assert word in error["message"], error
    after = _state(api)
    assert after[0] == before[0] and after[1] == before[1]
    assert [n["telemetry"] for n in after[2]] == [n["telemetry"] for n in before[2]]


@pytest.mark.parametrize("field, value", [("cpu_seconds", "Infinity"), ("cpu_seconds", "1e999"),
                                          ("peak_memory_mb", "NaN"), ("peak_memory_mb", "-Infinity")])
def test_a_measurement_that_is_not_finite_is_refused(api, field, value):
    """JSON clients cannot send these (httpx refuses), but the parser takes them: refused all the same."""
    before = _state(api)
    body = f'{{"exits": [{{"job": 1, "run": 1, "exit_code": 0, "{field}": {value}}}]}}'.encode()
    answer = api.post("/api/v1/agents/n1/report", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == f"exits.0.{field}" and "finite" in answer.json()["message"]
    assert _state(api)[:2] == before[:2]


def test_invalid_json_is_a_422_not_a_500(api):
    answer = api.post("/api/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_json"


def test_a_body_that_is_not_utf8_is_invalid_json_too(api):
    """Not a bare 400 that no route documents: the same answer as any unparseable body."""
    answer = api.post("/api/v1/agents/n1/report", content=b"\xc3:!A\xcb\x18", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_json", answer.text


def test_openapi_is_served(api):
    spec = api.get("/openapi.json").json()
    assert "/api/v1/jobs" in spec["paths"] and "/request" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_logs_of_a_job_on_a_node_without_endpoint_are_a_409_not_a_502(api):
    """n1 registered without an endpoint: there is no agent API to fetch logs from."""
    job = api.post("/api/v1/jobs", json={"command": ["true"], "no_wait": True}).json()
    assert job["state"] == "assigned" and job["node"] == "n1"
    answer = api.get(f"/api/v1/jobs/{job['id']}/logs")
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "no_logs" and answer.json()["field"] == "node"
